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

/// Catches a node that never tells its contacts its new address (`announce_card_if_changed`
/// replaced by nothing, a mutation survivor the test above lets through: there the moved
/// side dials out itself). Bob moves to a new port while Alice is down, so no connection
/// tells her; then Alice, started again, writes to Bob, who has nothing to send her. Only
/// the card Bob queued for her (its retries dial her once she is up) tells her where he is;
/// without it she keeps dialling his old port, and there is no mailbox.
#[test]
fn a_contact_that_moved_while_we_were_down_is_reached_through_its_card() {
    let net = Net::new();
    let alice_p = net.node("alice");
    let mut alice = alice_p.start();
    let bob_p = net.node("bob");
    let mut bob = bob_p.start();
    connect(&mut alice, &mut bob);
    let id = alice.send("bob", "before the move");
    bob.sees_message("alice", "before the move");
    alice.sees_delivered(&id);
    alice.quit();
    bob.quit();

    let bob_p = bob_p.listen_on(&format!("/ip4/127.0.0.1/tcp/{}", free_port()));
    let mut bob = bob_p.start();
    let mut alice = alice_p.start();
    let id = alice.send("bob", "after the move");
    bob.sees_message("alice", "after the move");
    alice.sees_delivered(&id);
    alice.quit();
    bob.quit();
}
