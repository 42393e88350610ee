//! SOCKS5 to tor's SocksPort, for tests that reach onion services without a node.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A minimal SOCKS5 CONNECT (RFC 1928, no authentication, domain-name address), as tor's
/// SocksPort takes it; the error names tor's extended reply codes.
pub fn socks5_connect(proxy: SocketAddr, host: &str, port: u16) -> Result<TcpStream, String> {
    socks5_connect_as(proxy, host, port, None)
}

/// [`socks5_connect`] with a username and password (RFC 1929), which tor takes as the
/// stream's isolation: streams with the same ones may share a circuit (as a node in hidden
/// mode dials: the destination as username, `cairn` as password).
pub fn socks5_connect_as(
    proxy: SocketAddr,
    host: &str,
    port: u16,
    auth: Option<(&str, &str)>,
) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(proxy).map_err(|e| format!("SOCKS port {proxy}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("read timeout");
    let io = |e: std::io::Error| format!("SOCKS: {e}");
    let method = if auth.is_some() { 2 } else { 0 };
    s.write_all(&[5, 1, method]).map_err(io)?;
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).map_err(io)?;
    if choice != [5, method] {
        return Err(format!("SOCKS method refused: {choice:?}"));
    }
    if let Some((user, pass)) = auth {
        let (u, p) = (user.as_bytes(), pass.as_bytes());
        let ul = u8::try_from(u.len()).map_err(|_| "username too long".to_owned())?;
        let pl = u8::try_from(p.len()).map_err(|_| "password too long".to_owned())?;
        let mut m = vec![1, ul];
        m.extend_from_slice(u);
        m.push(pl);
        m.extend_from_slice(p);
        s.write_all(&m).map_err(io)?;
        let mut status = [0u8; 2];
        s.read_exact(&mut status).map_err(io)?;
        if status[1] != 0 {
            return Err(format!("SOCKS authentication refused: {status:?}"));
        }
    }
    let len = u8::try_from(host.len()).map_err(|_| "host name too long".to_owned())?;
    let mut request = vec![5, 1, 0, 3, len];
    request.extend_from_slice(host.as_bytes());
    request.extend_from_slice(&port.to_be_bytes());
    s.write_all(&request).map_err(io)?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).map_err(io)?;
    if head[1] != 0 {
        let why = match head[1] {
            0x04 => "host unreachable",
            0x05 => "connection refused",
            0x06 => "TTL expired (timeout)",
            0xF0 => "onion service descriptor not found",
            0xF1 => "onion service descriptor invalid",
            0xF2 => "introduction failed",
            0xF3 => "rendezvous failed",
            0xF4 => "client authorization missing",
            0xF5 => "client authorization wrong",
            0xF6 => "bad onion address",
            0xF7 => "introduction timed out",
            _ => "error",
        };
        return Err(format!("SOCKS reply {:#04x}: {why}", head[1]));
    }
    // The bound address, which tor fills with zeros: skip it.
    let skip = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut n = [0u8; 1];
            s.read_exact(&mut n).map_err(io)?;
            usize::from(n[0]) + 2
        }
        t => return Err(format!("SOCKS reply with address type {t}")),
    };
    let mut rest = vec![0u8; skip];
    s.read_exact(&mut rest).map_err(io)?;
    Ok(s)
}
