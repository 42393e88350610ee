//! Text fields: a multi-line message editor with readline-like editing, and a secret
//! field for passphrases that never echoes and is zeroized.

use unicode_width::UnicodeWidthChar;
use zeroize::Zeroizing;

/// Longest text a field takes (a message is at most 64 KiB on the wire).
pub const MAX_INPUT: usize = 60 * 1024;

/// Cleans pasted or typed text: CRLF/CR become LF, tabs four spaces, other control
/// characters (escape sequences!) are dropped. Paste is inserted, never executed.
pub fn sanitize(text: &str, multiline: bool) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' if multiline => out.push('\n'),
            '\n' => {}
            '\t' => out.push_str("    "),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// An editable text with a cursor (a byte offset on a char boundary).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextField {
    text: String,
    cursor: usize,
    multiline: bool,
}

impl TextField {
    /// A one-line field.
    pub fn single() -> Self {
        Self::default()
    }

    /// A field that keeps line breaks.
    pub fn multi() -> Self {
        Self {
            multiline: true,
            ..Self::default()
        }
    }

    /// A one-line field holding `text`.
    pub fn with_text(text: &str) -> Self {
        let mut f = Self::single();
        f.insert_str(text);
        f
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cursor (byte offset).
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Takes the text out, leaving the field empty.
    pub fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    /// Clears the field.
    pub fn clear(&mut self) {
        self.take();
    }

    /// Inserts a typed character.
    pub fn insert_char(&mut self, c: char) {
        if c.is_control() && !(c == '\n' && self.multiline) {
            return;
        }
        if self.text.len() + c.len_utf8() > MAX_INPUT {
            return;
        }
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
    }

    /// Inserts pasted text (sanitised, truncated at [`MAX_INPUT`]).
    pub fn insert_str(&mut self, s: &str) {
        let clean = sanitize(s, self.multiline);
        let room = MAX_INPUT.saturating_sub(self.text.len());
        let mut end = clean.len().min(room);
        while !clean.is_char_boundary(end) {
            end -= 1;
        }
        self.text.insert_str(self.cursor, &clean[..end]);
        self.cursor += end;
    }

    fn prev_boundary(&self, i: usize) -> usize {
        self.text[..i].char_indices().last().map_or(0, |(j, _)| j)
    }

    fn next_boundary(&self, i: usize) -> usize {
        self.text[i..]
            .chars()
            .next()
            .map_or(self.text.len(), |c| i + c.len_utf8())
    }

    /// One character left.
    pub fn left(&mut self) {
        self.cursor = self.prev_boundary(self.cursor);
    }

    /// One character right.
    pub fn right(&mut self) {
        self.cursor = self.next_boundary(self.cursor);
    }

    /// Start of the word before the cursor.
    pub fn word_left_pos(&self) -> usize {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end_matches(|c: char| !c.is_alphanumeric());
        trimmed
            .char_indices()
            .rev()
            .find(|(_, c)| !c.is_alphanumeric())
            .map_or(0, |(i, c)| i + c.len_utf8())
    }

    /// One word left.
    pub fn word_left(&mut self) {
        self.cursor = self.word_left_pos();
    }

    /// One word right.
    pub fn word_right(&mut self) {
        let after = &self.text[self.cursor..];
        let skip_space = after.len()
            - after
                .trim_start_matches(|c: char| !c.is_alphanumeric())
                .len();
        let rest = &after[skip_space..];
        let word = rest
            .char_indices()
            .find(|(_, c)| !c.is_alphanumeric())
            .map_or(rest.len(), |(i, _)| i);
        self.cursor += skip_space + word;
    }

    fn line_start_pos(&self) -> usize {
        self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end_pos(&self) -> usize {
        self.text[self.cursor..]
            .find('\n')
            .map_or(self.text.len(), |i| self.cursor + i)
    }

    /// Start of the line.
    pub fn home(&mut self) {
        self.cursor = self.line_start_pos();
    }

    /// End of the line.
    pub fn end(&mut self) {
        self.cursor = self.line_end_pos();
    }

    /// Up one line (same column, by characters). False if already on the first line.
    pub fn up(&mut self) -> bool {
        let start = self.line_start_pos();
        if start == 0 {
            return false;
        }
        let col = self.text[start..self.cursor].chars().count();
        let prev_start = self.text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        let prev_line = &self.text[prev_start..start - 1];
        let off: usize = prev_line.chars().take(col).map(char::len_utf8).sum();
        self.cursor = prev_start + off;
        true
    }

    /// Down one line. False if already on the last line.
    pub fn down(&mut self) -> bool {
        let end = self.line_end_pos();
        if end == self.text.len() {
            return false;
        }
        let col = self.text[self.line_start_pos()..self.cursor]
            .chars()
            .count();
        let next_start = end + 1;
        let next_end = self.text[next_start..]
            .find('\n')
            .map_or(self.text.len(), |i| next_start + i);
        let off: usize = self.text[next_start..next_end]
            .chars()
            .take(col)
            .map(char::len_utf8)
            .sum();
        self.cursor = next_start + off;
        true
    }

    /// Backspace.
    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            let p = self.prev_boundary(self.cursor);
            self.text.replace_range(p..self.cursor, "");
            self.cursor = p;
        }
    }

    /// Delete.
    pub fn delete(&mut self) {
        if self.cursor < self.text.len() {
            let n = self.next_boundary(self.cursor);
            self.text.replace_range(self.cursor..n, "");
        }
    }

    /// Ctrl-W.
    pub fn delete_word_back(&mut self) {
        let p = self.word_left_pos();
        self.text.replace_range(p..self.cursor, "");
        self.cursor = p;
    }

    /// Ctrl-K.
    pub fn kill_to_end(&mut self) {
        let e = self.line_end_pos();
        self.text.replace_range(self.cursor..e, "");
    }

    /// Ctrl-U.
    pub fn kill_to_start(&mut self) {
        let s = self.line_start_pos();
        self.text.replace_range(s..self.cursor, "");
        self.cursor = s;
    }

    /// Lays the text out in rows of at most `width` columns (hard wrap, line breaks
    /// kept) and returns the rows and the cursor's (row, column).
    pub fn layout(&self, width: usize) -> (Vec<String>, (usize, usize)) {
        let width = width.max(2);
        let mut rows = vec![String::new()];
        let mut col = 0usize;
        let mut cursor = (0, 0);
        for (i, c) in self.text.char_indices() {
            if i == self.cursor {
                cursor = (rows.len() - 1, col);
            }
            if c == '\n' {
                rows.push(String::new());
                col = 0;
                continue;
            }
            let w = c.width().unwrap_or(0);
            if col + w > width {
                rows.push(String::new());
                col = 0;
                if i == self.cursor {
                    cursor = (rows.len() - 1, 0);
                }
            }
            if let Some(r) = rows.last_mut() {
                r.push(c);
            }
            col += w;
        }
        if self.cursor >= self.text.len() {
            if col >= width {
                rows.push(String::new());
                col = 0;
            }
            cursor = (rows.len() - 1, col);
        }
        (rows, cursor)
    }
}

/// A passphrase field: no echo, zeroized on drop, no `Debug` of the content.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretField {
    value: Zeroizing<String>,
}

impl std::fmt::Debug for SecretField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretField(..)")
    }
}

impl SecretField {
    /// Appends a character.
    pub fn push(&mut self, c: char) {
        if !c.is_control() && self.value.len() < 1024 {
            self.value.push(c);
        }
    }

    /// Appends pasted text (one line).
    pub fn push_str(&mut self, s: &str) {
        for c in s.chars() {
            if c == '\n' || c == '\r' {
                break;
            }
            self.push(c);
        }
    }

    /// Removes the last character.
    pub fn pop(&mut self) {
        self.value.pop();
    }

    /// Clears it.
    pub fn clear(&mut self) {
        self.value = Zeroizing::new(String::new());
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// Length in characters (for validation only; never displayed).
    pub fn char_len(&self) -> usize {
        self.value.chars().count()
    }

    /// Takes the secret out.
    pub fn take(&mut self) -> Zeroizing<String> {
        std::mem::take(&mut self.value)
    }

    /// Compares with another field in constant shape (lengths may differ).
    pub fn same_as(&self, other: &SecretField) -> bool {
        self.value.as_bytes() == other.value.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches paste that smuggles escape sequences or carriage returns into a message.
    #[test]
    fn paste_is_sanitised() {
        let mut f = TextField::multi();
        f.insert_str("a\r\nb\x1b[31mc\td");
        assert_eq!(f.text(), "a\nb[31mc    d");
        let mut s = TextField::single();
        s.insert_str("CAIRN:AB\nCD");
        assert_eq!(s.text(), "CAIRN:ABCD");
    }

    /// Catches cursor arithmetic that splits a UTF-8 character or loses text.
    #[test]
    fn readline_editing() {
        let mut f = TextField::multi();
        f.insert_str("héllo wörld");
        f.word_left();
        assert_eq!(&f.text()[f.cursor()..], "wörld");
        f.delete_word_back();
        assert_eq!(f.text(), "wörld");
        f.end();
        f.backspace();
        assert_eq!(f.text(), "wörl");
        f.home();
        f.kill_to_end();
        assert!(f.is_empty());
        f.insert_str("one\ntwo");
        assert!(f.up());
        assert_eq!(f.cursor(), 3);
        assert!(!f.up());
        assert!(f.down());
        f.kill_to_start();
        assert_eq!(f.text(), "one\n");
    }

    /// Catches a layout that puts the cursor outside the drawn rows.
    #[test]
    fn layout_wraps_and_places_cursor() {
        let mut f = TextField::multi();
        f.insert_str("abcdef\nxy");
        let (rows, cur) = f.layout(4);
        assert_eq!(rows, vec!["abcd", "ef", "xy"]);
        assert_eq!(cur, (2, 2));
        f.insert_str("zw");
        let (rows, cur) = f.layout(4);
        assert_eq!(rows, vec!["abcd", "ef", "xyzw", ""]);
        assert_eq!(cur, (3, 0));
    }
}
