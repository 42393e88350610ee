//! The outbox's scheduling rules, as pure functions of what is due and what is in flight:
//! the order in which due envelopes leave, how they are grouped into requests, and how long
//! a failed one waits. `outbox.rs` gathers their inputs from the runtime and carries out
//! the plan; the rules are tested here on their own.

use super::{
    MAX_BULK_REQUESTS_PER_CONTACT, MAX_REQUESTS_PER_CONTACT, MIN_BATCH_WHILE_BUSY, RETRY_BASE,
    RETRY_MAX,
};
use crate::net::protocol::{Request, MAX_BATCH, MAX_REQUEST_LEN};
use crate::store::{ContactId, MessageId, OutboxEntry};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

/// How long a failed delivery waits before its next try, after `attempts` failures:
/// [`RETRY_BASE`] doubled per failure up to [`RETRY_MAX`], the second half of it jittered
/// (full jitter on half the delay spreads the retries of many nodes).
pub(super) fn backoff_delay(attempts: u32, rng: &mut impl Rng) -> u64 {
    let base = u64::try_from(RETRY_BASE.as_millis()).unwrap_or(500);
    let max = u64::try_from(RETRY_MAX.as_millis()).unwrap_or(300_000);
    let exp = base.saturating_mul(1u64 << attempts.min(20)).min(max);
    exp / 2 + rng.gen_range(0..=exp / 2)
}

/// Puts due entries in the order they leave: a contact's handshake answer (`answers`)
/// first — a contact must have the session before anything else of it arrives, and
/// messages encrypted again after a reset are older than the answer — then oldest first,
/// for conversation order on the wire as far as possible; entries of one age and seq by
/// `place` (a file's chunks by their index: the outbox keys them by a hash of it, and chunks
/// in a random order made the receiver open every chunk again at the end, §25.3).
pub(super) fn order_due(
    due: &mut [&OutboxEntry],
    answers: &BTreeMap<ContactId, MessageId>,
    place: impl Fn(&MessageId) -> u64,
) {
    due.sort_by_cached_key(|e| {
        (
            answers.get(&e.contact) != Some(&e.message_id),
            e.created_at_ms,
            e.seq,
            place(&e.message_id),
        )
    });
}

/// Groups due entries, taken in order, into the requests to send now, each a batch for one
/// contact (one entry goes as a single delivery):
/// - at most `room` entries in all (what the in-flight limit leaves);
/// - a batch holds at most [`MAX_BATCH`] envelopes and fits in [`MAX_REQUEST_LEN`];
/// - at most [`MAX_REQUESTS_PER_CONTACT`] requests per contact, counting the `busy` ones
///   already in flight (what the recipient's read budget per connection takes:
///   `net::budget::MAX_BUFFERED_PER_CONNECTION`), or [`MAX_BULK_REQUESTS_PER_CONTACT`] for
///   a contact in `bulk` (one we send bulk chunks to, which reads more from a contact);
/// - a contact with a request in flight gets another only for at least
///   [`MIN_BATCH_WHILE_BUSY`] due envelopes or a full request's worth of bytes: otherwise
///   the answer to the one in flight sends them together (Nagle's rule, in short).
pub(super) fn plan_batches(
    due: &[&OutboxEntry],
    busy: &BTreeMap<ContactId, usize>,
    bulk: &BTreeSet<ContactId>,
    mut room: usize,
) -> Vec<Vec<OutboxEntry>> {
    // Due envelopes and bytes per contact.
    let mut due_per_contact: BTreeMap<ContactId, (usize, usize)> = BTreeMap::new();
    for e in due {
        let d = due_per_contact.entry(e.contact).or_default();
        d.0 += 1;
        d.1 += 4 + e.envelope.len();
    }
    let mut batches: Vec<Vec<OutboxEntry>> = Vec::new();
    // The batch of each contact still open to more, and its length in bytes so far.
    let mut open: BTreeMap<ContactId, (usize, usize)> = BTreeMap::new();
    let mut opened: BTreeMap<ContactId, usize> = BTreeMap::new();
    for e in due {
        if room == 0 {
            break;
        }
        let in_flight = busy.get(&e.contact).copied().unwrap_or(0);
        let len = e.envelope.len();
        let (n, bytes) = due_per_contact.get(&e.contact).copied().unwrap_or_default();
        // A full request's worth: what is due could not take one more envelope like this.
        let full = 3 + bytes + 4 + len > MAX_REQUEST_LEN;
        if in_flight > 0 && n < MIN_BATCH_WHILE_BUSY && !full {
            continue;
        }
        let slot = open.get(&e.contact).copied().filter(|(b, bytes)| {
            batches.get(*b).is_some_and(|v| v.len() < MAX_BATCH)
                && Request::batch_len([*bytes, len]) <= MAX_REQUEST_LEN
        });
        match slot {
            Some((b, bytes)) => {
                if let Some(v) = batches.get_mut(b) {
                    v.push((*e).clone());
                }
                open.insert(e.contact, (b, bytes + 4 + len));
            }
            None => {
                let requests = in_flight + opened.get(&e.contact).copied().unwrap_or(0);
                let most = if bulk.contains(&e.contact) {
                    MAX_BULK_REQUESTS_PER_CONTACT
                } else {
                    MAX_REQUESTS_PER_CONTACT
                };
                if requests >= most {
                    continue;
                }
                *opened.entry(e.contact).or_default() += 1;
                open.insert(e.contact, (batches.len(), len));
                batches.push(vec![(*e).clone()]);
            }
        }
        room -= 1;
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn entry(contact: u8, n: u8, len: usize, created: u64) -> OutboxEntry {
        let mut id = [0u8; 16];
        id[0] = contact;
        id[1] = n;
        OutboxEntry {
            message_id: MessageId(id),
            contact: ContactId([contact; 32]),
            seq: u64::from(n),
            envelope: vec![n; len],
            attempts: 0,
            next_attempt_at_ms: 0,
            created_at_ms: created,
        }
    }

    fn ids(batch: &[OutboxEntry]) -> Vec<u8> {
        batch.iter().map(|e| e.message_id.0[1]).collect()
    }

    fn plan(due: &[OutboxEntry], busy: &[(u8, usize)], room: usize) -> Vec<Vec<OutboxEntry>> {
        let refs: Vec<&OutboxEntry> = due.iter().collect();
        let busy = busy
            .iter()
            .map(|(c, n)| (ContactId([*c; 32]), *n))
            .collect();
        plan_batches(&refs, &busy, &BTreeSet::new(), room)
    }

    /// Catches a backoff that does not double, passes its cap, loses its jitter or jitters
    /// outside the second half of the delay (found missing by mutation testing).
    #[test]
    fn backoff_doubles_to_its_cap_with_jitter_on_the_second_half() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = u64::try_from(RETRY_BASE.as_millis()).unwrap();
        let max = u64::try_from(RETRY_MAX.as_millis()).unwrap();
        for attempts in 0..30u32 {
            let exp = (base << attempts.min(20)).min(max);
            let draws: Vec<u64> = (0..400)
                .map(|_| backoff_delay(attempts, &mut rng))
                .collect();
            let (lo, hi) = (*draws.iter().min().unwrap(), *draws.iter().max().unwrap());
            assert!(
                lo >= exp / 2 && hi <= exp,
                "attempt {attempts}: {lo}..{hi} for {exp}"
            );
            // The jitter covers the second half (not a constant, not a sliver of it).
            assert!(
                lo < exp / 2 + exp / 8,
                "attempt {attempts}: lowest {lo} of {exp}"
            );
            assert!(
                hi > exp - exp / 8,
                "attempt {attempts}: highest {hi} of {exp}"
            );
        }
    }

    /// Catches a handshake answer that does not lead (a contact would get messages of a
    /// session it does not have yet), or an order other than oldest first, then by seq.
    #[test]
    fn a_handshake_answer_leaves_first_then_oldest_first() {
        let due = [
            entry(1, 1, 10, 300),
            entry(1, 2, 10, 100),
            entry(2, 3, 10, 100),
            entry(1, 4, 10, 900),
            entry(2, 5, 10, 50),
        ];
        let mut refs: Vec<&OutboxEntry> = due.iter().collect();
        let answers = BTreeMap::from([(ContactId([1; 32]), due[3].message_id)]);
        order_due(&mut refs, &answers, |_| 0);
        let order: Vec<u8> = refs.iter().map(|e| e.message_id.0[1]).collect();
        // 4 is contact 1's answer; then by age (5 at 50; 2 and 3 at 100, by seq; 1 at 300).
        assert_eq!(order, [4, 5, 2, 3, 1]);
        // An answer is first only for its own contact: contact 2 has none.
        let answers = BTreeMap::from([(ContactId([2; 32]), due[3].message_id)]);
        order_due(&mut refs, &answers, |_| 0);
        let order: Vec<u8> = refs.iter().map(|e| e.message_id.0[1]).collect();
        assert_eq!(order, [5, 2, 3, 1, 4]);
        // Of one age and seq, by place (a file's chunks by index, whatever their ids).
        let chunks = [9, 7, 8].map(|n| OutboxEntry {
            seq: 0,
            ..entry(1, n, 10, 100)
        });
        let mut refs: Vec<&OutboxEntry> = chunks.iter().collect();
        let index = |id: &MessageId| u64::from(10 - id.0[1]);
        order_due(&mut refs, &BTreeMap::new(), index);
        let order: Vec<u8> = refs.iter().map(|e| e.message_id.0[1]).collect();
        assert_eq!(order, [9, 8, 7]);
    }

    /// Catches envelopes of one contact not travelling together, a batch past
    /// `MAX_BATCH`, or a contact given more requests than `MAX_REQUESTS_PER_CONTACT`.
    #[test]
    fn one_contacts_envelopes_travel_in_full_batches_up_to_its_request_limit() {
        let n = MAX_BATCH * (MAX_REQUESTS_PER_CONTACT + 1) + 3;
        let due: Vec<OutboxEntry> = (0..n)
            .map(|i| entry(1, u8::try_from(i % 256).unwrap(), 40, 0))
            .collect();
        let batches = plan(&due, &[], usize::MAX);
        assert_eq!(batches.len(), MAX_REQUESTS_PER_CONTACT);
        assert!(batches.iter().all(|b| b.len() == MAX_BATCH));
        // In order: the first batch holds the first MAX_BATCH entries.
        assert_eq!(ids(&batches[0]), ids(&due[..MAX_BATCH]));
        assert_eq!(ids(&batches[1]), ids(&due[MAX_BATCH..2 * MAX_BATCH]));
        // Another contact is not held back by the first one's limit.
        let mut due = due;
        due.push(entry(2, 7, 40, 0));
        let batches = plan(&due, &[], usize::MAX);
        assert_eq!(batches.len(), MAX_REQUESTS_PER_CONTACT + 1);
        assert_eq!(ids(batches.last().unwrap()), [7]);
    }

    /// Catches a contact we send bulk chunks to held to the ordinary request limit (a
    /// large file then moves by a 2 MiB window), given more than its recipient reads at
    /// once from a contact, or the larger limit leaking to another contact.
    #[test]
    fn a_bulk_contact_gets_more_requests_and_only_it() {
        // Four envelopes of 64 KiB fill a request, as bulk chunks do.
        let big = MAX_REQUEST_LEN / 4 - 64;
        let due: Vec<OutboxEntry> = (0..200)
            .map(|i| entry(1 + u8::from(i >= 150), u8::try_from(i).unwrap(), big, 0))
            .collect();
        let refs: Vec<&OutboxEntry> = due.iter().collect();
        let bulk = BTreeSet::from([ContactId([1; 32])]);
        let batches = plan_batches(&refs, &BTreeMap::new(), &bulk, usize::MAX);
        let of = |c: u8| {
            batches
                .iter()
                .filter(|b| b[0].contact == ContactId([c; 32]))
                .count()
        };
        assert_eq!(of(1), MAX_BULK_REQUESTS_PER_CONTACT);
        assert_eq!(of(2), MAX_REQUESTS_PER_CONTACT);
        const {
            assert!(
                MAX_BULK_REQUESTS_PER_CONTACT * MAX_REQUEST_LEN
                    <= crate::net::budget::MAX_BUFFERED_PER_CONTACT_CONNECTION
            )
        };
        // Requests in flight count.
        let busy = BTreeMap::from([(ContactId([1; 32]), MAX_BULK_REQUESTS_PER_CONTACT - 2)]);
        let batches = plan_batches(&refs, &busy, &bulk, usize::MAX);
        assert_eq!(
            batches
                .iter()
                .filter(|b| b[0].contact == ContactId([1; 32]))
                .count(),
            2
        );
    }

    /// Catches a batch that outgrows a request (`MAX_REQUEST_LEN`): big envelopes open a
    /// new batch before the limit, and every batch fits.
    #[test]
    fn a_batch_never_outgrows_a_request() {
        let big = MAX_REQUEST_LEN / 3;
        let due: Vec<OutboxEntry> = (0..5).map(|i| entry(1, i, big, 0)).collect();
        let batches = plan(&due, &[], usize::MAX);
        for b in &batches {
            assert!(Request::batch_len(b.iter().map(|e| e.envelope.len())) <= MAX_REQUEST_LEN);
        }
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 5);
        // Two fit in one request, not three.
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
        // Exactly at the limit still fits.
        let exact = MAX_REQUEST_LEN - Request::batch_len([0usize, 0]);
        let due = [entry(1, 1, exact / 2, 0), entry(1, 2, exact - exact / 2, 0)];
        let batches = plan(&due, &[], usize::MAX);
        assert_eq!(batches.len(), 1, "{exact}");
        // Three envelopes filling a request to the byte, then one byte more: the running
        // size of an open batch counts each envelope's length prefix (found by mutation
        // testing).
        let room = MAX_REQUEST_LEN - Request::batch_len([0usize, 0, 0]);
        let thirds = [room / 3, room / 3, room - 2 * (room / 3)];
        let due: Vec<OutboxEntry> = (0..3u8)
            .map(|i| entry(1, i, thirds[usize::from(i)], 0))
            .collect();
        assert_eq!(plan(&due, &[], usize::MAX).len(), 1);
        let mut over = due.clone();
        over[2].envelope.push(0);
        let batches = plan(&over, &[], usize::MAX);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    }

    /// Catches a busy contact (a request in flight) given a request for a few envelopes
    /// (they wait for the answer), or refused one for a batch worth it, or given more than
    /// its free request slots.
    /// Catches large envelopes (a file's chunks: four fill a request) held back behind a
    /// request in flight until sixteen are due — which never happens when a window of
    /// chunks moves on a few receipts at a time — or a full request's worth held back.
    #[test]
    fn a_busy_contact_gets_a_full_request_of_large_envelopes() {
        let chunk = 64_554;
        let three: Vec<OutboxEntry> = (0..3).map(|i| entry(1, i, chunk, 0)).collect();
        assert!(
            plan(&three, &[(1, 1)], usize::MAX).is_empty(),
            "room for a fourth"
        );
        let four: Vec<OutboxEntry> = (0..4).map(|i| entry(1, i, chunk, 0)).collect();
        let batches = plan(&four, &[(1, 1)], usize::MAX);
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].len(), 4, "four fit in one request");
        let five: Vec<OutboxEntry> = (0..5).map(|i| entry(1, i, chunk, 0)).collect();
        let batches = plan(&five, &[(1, 1)], usize::MAX);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [4, 1]);
    }

    #[test]
    fn a_busy_contact_gets_another_request_only_for_a_batch_worth_it() {
        let few: Vec<OutboxEntry> = (0..MIN_BATCH_WHILE_BUSY - 1)
            .map(|i| entry(1, u8::try_from(i).unwrap(), 40, 0))
            .collect();
        assert!(plan(&few, &[(1, 1)], usize::MAX).is_empty());
        // Not busy: they go at once, as one batch.
        assert_eq!(plan(&few, &[], usize::MAX).len(), 1);
        // Another contact's request in flight does not hold them back.
        assert_eq!(plan(&few, &[(2, 3)], usize::MAX).len(), 1);
        let enough: Vec<OutboxEntry> = (0..MIN_BATCH_WHILE_BUSY)
            .map(|i| entry(1, u8::try_from(i).unwrap(), 40, 0))
            .collect();
        let batches = plan(&enough, &[(1, 1)], usize::MAX);
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].len(), MIN_BATCH_WHILE_BUSY);
        // With every slot taken, nothing more for that contact.
        assert!(plan(&enough, &[(1, MAX_REQUESTS_PER_CONTACT)], usize::MAX).is_empty());
        // With one slot left, one request (not two) however much is due.
        let lots: Vec<OutboxEntry> = (0..3 * MAX_BATCH)
            .map(|i| entry(1, u8::try_from(i).unwrap(), 40, 0))
            .collect();
        let batches = plan(&lots, &[(1, MAX_REQUESTS_PER_CONTACT - 1)], usize::MAX);
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].len(), MAX_BATCH);
    }

    /// Catches the in-flight room not being kept: no more entries leave than it allows,
    /// and the first ones in order are those that leave.
    #[test]
    fn no_more_leave_than_the_room_in_flight() {
        let due: Vec<OutboxEntry> = (0..10)
            .map(|i| entry(1 + i % 2, i, 40, u64::from(i)))
            .collect();
        let batches = plan(&due, &[], 5);
        let mut sent: Vec<u8> = batches.iter().flat_map(|b| ids(b)).collect();
        sent.sort_unstable();
        assert_eq!(sent, [0, 1, 2, 3, 4]);
        assert!(plan(&due, &[], 0).is_empty());
        assert_eq!(plan(&due, &[], 1).iter().map(Vec::len).sum::<usize>(), 1);
    }
}
