//! A minimal, independent Noise implementation (25519, ChaChaPoly, BLAKE2s) used only
//! to cross-check snow: it is first validated against the published IK and IKpsk2
//! vectors, then used to check the IKpsk1 pattern Cairn uses, for which no published
//! vector exists.
#![allow(dead_code)]
use blake2::{Blake2s256, Digest};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Mac, SimpleHmac};
use x25519_dalek::{PublicKey, StaticSecret};

type H = SimpleHmac<Blake2s256>;

fn hmac(key: &[u8], data: &[&[u8]]) -> [u8; 32] {
    let mut m = <H as Mac>::new_from_slice(key).unwrap();
    for d in data {
        m.update(d);
    }
    m.finalize().into_bytes().into()
}

fn hkdf3(ck: &[u8; 32], ikm: &[u8]) -> ([u8; 32], [u8; 32], [u8; 32]) {
    let temp = hmac(ck, &[ikm]);
    let o1 = hmac(&temp, &[&[1]]);
    let o2 = hmac(&temp, &[&o1, &[2]]);
    let o3 = hmac(&temp, &[&o2, &[3]]);
    (o1, o2, o3)
}

pub struct Symmetric {
    pub ck: [u8; 32],
    pub h: [u8; 32],
    k: Option<[u8; 32]>,
    n: u64,
}

impl Symmetric {
    pub fn new(name: &str) -> Self {
        let mut h = [0u8; 32];
        if name.len() <= 32 {
            h[..name.len()].copy_from_slice(name.as_bytes());
        } else {
            h = Blake2s256::digest(name.as_bytes()).into();
        }
        Self {
            ck: h,
            h,
            k: None,
            n: 0,
        }
    }
    pub fn mix_hash(&mut self, data: &[u8]) {
        let mut d = Blake2s256::new();
        d.update(self.h);
        d.update(data);
        self.h = d.finalize().into();
    }
    pub fn mix_key(&mut self, ikm: &[u8]) {
        let (ck, k, _) = hkdf3(&self.ck, ikm);
        self.ck = ck;
        self.k = Some(k);
        self.n = 0;
    }
    pub fn mix_key_and_hash(&mut self, ikm: &[u8]) {
        let (ck, th, k) = hkdf3(&self.ck, ikm);
        self.ck = ck;
        self.mix_hash(&th);
        self.k = Some(k);
        self.n = 0;
    }
    fn nonce(&self) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.n.to_le_bytes());
        n
    }
    pub fn encrypt_and_hash(&mut self, pt: &[u8]) -> Vec<u8> {
        let ct = match self.k {
            Some(k) => {
                let c = ChaCha20Poly1305::new((&k).into());
                let ct = c
                    .encrypt(
                        Nonce::from_slice(&self.nonce()),
                        Payload {
                            msg: pt,
                            aad: &self.h,
                        },
                    )
                    .unwrap();
                self.n += 1;
                ct
            }
            None => pt.to_vec(),
        };
        self.mix_hash(&ct);
        ct
    }
    pub fn split(&self) -> ([u8; 32], [u8; 32]) {
        let (a, b, _) = hkdf3(&self.ck, &[]);
        (a, b)
    }
}

pub fn public(secret: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

pub fn dh(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    StaticSecret::from(*secret)
        .diffie_hellman(&PublicKey::from(*public))
        .to_bytes()
}

/// Keys for an IK-family handshake, from the initiator's point of view.
pub struct IkInput<'a> {
    pub name: &'a str,
    pub prologue: &'a [u8],
    pub psk: Option<([u8; 32], usize)>, // (psk, position: 1 or 2)
    pub init_static: [u8; 32],
    pub init_ephemeral: [u8; 32],
    pub resp_static: [u8; 32],
    pub resp_ephemeral: [u8; 32],
    pub payload1: &'a [u8],
    pub payload2: &'a [u8],
}

/// Both handshake messages, the handshake hash and the split keys.
pub type IkOutput = (Vec<u8>, Vec<u8>, [u8; 32], ([u8; 32], [u8; 32]));

pub fn ik(inp: &IkInput<'_>) -> IkOutput {
    let mut s = Symmetric::new(inp.name);
    s.mix_hash(inp.prologue);
    let rs = public(&inp.resp_static);
    s.mix_hash(&rs);
    let psk_mode = inp.psk.is_some();
    // -> e, es, s, ss [psk1]
    let mut m1 = Vec::new();
    let e = public(&inp.init_ephemeral);
    m1.extend_from_slice(&e);
    s.mix_hash(&e);
    if psk_mode {
        s.mix_key(&e);
    }
    s.mix_key(&dh(&inp.init_ephemeral, &rs));
    m1.extend(s.encrypt_and_hash(&public(&inp.init_static)));
    s.mix_key(&dh(&inp.init_static, &rs));
    if let Some((psk, 1)) = inp.psk {
        s.mix_key_and_hash(&psk);
    }
    m1.extend(s.encrypt_and_hash(inp.payload1));
    // <- e, ee, se [psk2]
    let mut m2 = Vec::new();
    let re = public(&inp.resp_ephemeral);
    m2.extend_from_slice(&re);
    s.mix_hash(&re);
    if psk_mode {
        s.mix_key(&re);
    }
    s.mix_key(&dh(&inp.init_ephemeral, &re));
    s.mix_key(&dh(&inp.init_static, &re));
    if let Some((psk, 2)) = inp.psk {
        s.mix_key_and_hash(&psk);
    }
    m2.extend(s.encrypt_and_hash(inp.payload2));
    (m1, m2, s.h, s.split())
}
