//! The node's timing rules and the durations the documents give (docs/PROTOCOL.md §11,
//! §24, docs/CLI.md): no simulated run sees a renewal that comes at once instead of after
//! ten minutes, or an invite that lives a day instead of a week — messages still arrive —
//! so they are checked here, against the documents' figures.

use super::*;

const MINUTE_MS: u64 = 60 * 1000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_SECS: u64 = 24 * 3600;

#[test]
fn renewals_double_from_resend_after_up_to_a_day() {
    let ten_minutes = 10 * MINUTE_MS;
    // The first hop: resend_after itself; then 20, 40 … 1,280 minutes (PROTOCOL §11).
    assert_eq!(renew_delay(ten_minutes, 1), ten_minutes);
    assert_eq!(renew_delay(ten_minutes, 2), 2 * ten_minutes);
    assert_eq!(renew_delay(ten_minutes, 3), 4 * ten_minutes);
    assert_eq!(renew_delay(ten_minutes, 8), 128 * ten_minutes);
    // No hop yet counts as one.
    assert_eq!(renew_delay(ten_minutes, 0), ten_minutes);
    // At most a day, however many hops, without overflowing.
    assert_eq!(renew_delay(ten_minutes, 9), 24 * HOUR_MS);
    assert_eq!(renew_delay(ten_minutes, u32::MAX), 24 * HOUR_MS);
    assert_eq!(renew_delay(u64::MAX, 40), 24 * HOUR_MS);
    // The eight renewals take about 42 hours in all.
    let total: u64 = (1..=MAX_RENEWALS)
        .map(|h| renew_delay(ten_minutes, h))
        .sum();
    assert_eq!(total, 2_550 * MINUTE_MS);
}

#[test]
fn durations_are_those_the_documents_give() {
    // An invite lives 7 days (PROTOCOL §7: expires_at = now + 604800).
    assert_eq!(DEFAULT_INVITE_TTL_SECS, 604_800);
    assert_eq!(RENEW_MAX_INTERVAL, Duration::from_secs(DAY_SECS));
    assert_eq!(RESEND_AFTER_HOP, Duration::from_secs(600));
    // A mailbox keeps mail 14 days (CLI.md); a node asks for one routing epoch more.
    assert_eq!(
        MAILBOX_LOOKBACK_SECS,
        14 * DAY_SECS + cairn_crypto::routing::ROUTING_EPOCH_SECS
    );
    assert_eq!(TAGS_AHEAD_SECS, 2 * DAY_SECS);
    // An inviter keeps its answer as long as a mailbox keeps mail (PROTOCOL §24).
    assert_eq!(ANSWER_KEPT_MS, 14 * DAY_SECS * 1000);
    assert_eq!(RESET_GRACE_MS, 10 * MINUTE_MS);
    assert_eq!(MAILBOX_CATCH_UP_MS, MINUTE_MS);
    // An introduction's pair secret is honoured 28 days (PROTOCOL §24.4): twice the
    // mailbox's retention.
    assert_eq!(introductions::INTRO_TTL_SECS, 28 * DAY_SECS);
}
