//! A contact whose port changed is still reached.
use cairn_tests::*;

/// Catches a node that keeps dialling a contact's old address: Bob restarts on a new
/// port; Alice's messages still arrive (Bob reconnects and announces his new card;
/// identify updates Alice's record).
#[test]
fn contact_with_new_port_is_still_reached() {
    let net = Net::new();
    let mut alice = net.node("alice").start();
    let bob_p = net.node("bob");
    let mut bob = bob_p.start();
    connect(&mut alice, &mut bob);
    let id = alice.send("bob", "on the old port");
    bob.sees_message("alice", "on the old port");
    alice.sees_delivered(&id);
    bob.quit();

    let old = bob_p.clone();
    let bob_p = bob_p.listen_on(&format!("/ip4/127.0.0.1/tcp/{}", free_port()));
    assert_ne!(format!("{:?}", old.dir), "", "same profile, new port");
    let mut bob = bob_p.start();
    let id = alice.send("bob", "on the new port");
    bob.sees_message("alice", "on the new port");
    alice.sees_delivered(&id);
    let back = bob.send("alice", "reply from the new port");
    alice.sees_message("bob", "reply from the new port");
    bob.sees_delivered(&back);
    alice.quit();
    bob.quit();
}
