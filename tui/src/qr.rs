//! QR codes drawn with Unicode half blocks: one character cell holds two modules
//! stacked (`▀`, `▄`, `█`, space), drawn dark-on-light whatever the terminal's theme.

use qrcode::{Color, EcLevel, QrCode};

/// Light modules around the code. The specification asks for four; two scan reliably
/// from a screen and save rows in a terminal.
pub const QUIET_ZONE: usize = 2;

/// The rows of a QR code for `data`, or `None` if it cannot be encoded.
pub fn qr_rows(data: &str) -> Option<Vec<String>> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::L).ok()?;
    let w = code.width();
    let colors = code.to_colors();
    let size = w + 2 * QUIET_ZONE;
    let dark = |x: usize, y: usize| -> bool {
        if x < QUIET_ZONE || y < QUIET_ZONE || x >= w + QUIET_ZONE || y >= w + QUIET_ZONE {
            return false;
        }
        colors
            .get((y - QUIET_ZONE) * w + (x - QUIET_ZONE))
            .is_some_and(|c| *c == Color::Dark)
    };
    let mut rows = Vec::with_capacity(size.div_ceil(2));
    let mut y = 0;
    while y < size {
        let mut row = String::with_capacity(size * 3);
        for x in 0..size {
            let top = dark(x, y);
            let bottom = y + 1 < size && dark(x, y + 1);
            row.push(match (top, bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        rows.push(row);
        y += 2;
    }
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a renderer that drops rows or columns (the code would not scan): decode
    /// the half blocks back into modules and compare with the encoder's matrix.
    #[test]
    fn half_blocks_round_trip() {
        let data = "CAIRN-SN01123451234512345123451234512345123451234512345123451234512345";
        let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::L).unwrap();
        let w = code.width();
        let colors = code.to_colors();
        let rows = qr_rows(data).unwrap();
        let size = w + 2 * QUIET_ZONE;
        assert_eq!(rows.len(), size.div_ceil(2));
        for (ry, row) in rows.iter().enumerate() {
            let chars: Vec<char> = row.chars().collect();
            assert_eq!(chars.len(), size);
            for (x, ch) in chars.iter().enumerate() {
                for (dy, bit) in [(0, matches!(ch, '█' | '▀')), (1, matches!(ch, '█' | '▄'))]
                {
                    let y = ry * 2 + dy;
                    let expect = x >= QUIET_ZONE
                        && y >= QUIET_ZONE
                        && x < w + QUIET_ZONE
                        && y < w + QUIET_ZONE
                        && colors[(y - QUIET_ZONE) * w + x - QUIET_ZONE] == Color::Dark;
                    assert_eq!(bit, expect, "module ({x},{y})");
                }
            }
        }
    }
}
