//! A deposit flood from many addresses of one IPv6 /64, run by `tests/tests/dos_lan.rs`
//! inside the attacker's network namespace:
//!
//! `deposit_flood RELAY_QUIC_ADDR PREFIX COUNT SECS`
//!
//! From each of the COUNT addresses `PREFIX1` … `PREFIX<COUNT in hex>` (which must be the
//! namespace's own), one client keeps two deposits of three of the largest envelopes under
//! fresh random tags in flight to the relay for SECS seconds. Prints one JSON line: deposits
//! `taken` and `refused`, requests that got no answer (`dropped`) and connections refused
//! (`refused_connections`).
use cairn_node::api::peer::Response;
use cairn_tests::attack::{attacker_from, junk_deposit, keep_asking, peer_of, Reply};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct Counts {
    taken: AtomicU64,
    refused: AtomicU64,
    dropped: AtomicU64,
    refused_connections: AtomicU64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, relay, prefix, count, secs] = &args[..] else {
        eprintln!("usage: deposit_flood RELAY_QUIC_ADDR PREFIX COUNT SECS");
        std::process::exit(2);
    };
    let relay_addr: libp2p::Multiaddr = relay.parse().expect("relay address");
    let relay_peer = peer_of(relay);
    let count: u32 = count.parse().expect("count");
    let secs: u64 = secs.parse().expect("seconds");
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        let mut clients = Vec::new();
        for i in 1..=count {
            let source = format!("{prefix}{i:x}");
            let (stop, counts, relay_addr) = (stop.clone(), counts.clone(), relay_addr.clone());
            clients.push(tokio::spawn(async move {
                let mut sw = attacker_from(&source);
                keep_asking(
                    &mut sw,
                    relay_peer,
                    relay_addr,
                    2,
                    &stop,
                    junk_deposit,
                    |reply| match reply {
                        Reply::Answer(Response::Results(codes)) => {
                            for c in codes {
                                let n = if c.is_none() {
                                    &counts.taken
                                } else {
                                    &counts.refused
                                };
                                n.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Reply::Answer(_) => {
                            counts.refused.fetch_add(3, Ordering::Relaxed);
                        }
                        Reply::Dropped => {
                            counts.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        Reply::Refused => {
                            counts.refused_connections.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                )
                .await;
            }));
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            let _ = c.await;
        }
    });
    println!(
        "{}",
        serde_json::json!({
            "sources": count,
            "taken": counts.taken.load(Ordering::Relaxed),
            "refused": counts.refused.load(Ordering::Relaxed),
            "dropped": counts.dropped.load(Ordering::Relaxed),
            "refused_connections": counts.refused_connections.load(Ordering::Relaxed),
        })
    );
}
