//! Samples of the store's owed-event records (`store::Report`) for the `store_record`
//! target's seeds: every kind of report in one record.

use super::*;
use crate::store::Report;

pub(super) fn report_records() -> Vec<(TreeName, Record)> {
    vec![(
        TreeName::Settings,
        Record::Unreported(vec![
            Report::Message {
                contact: ContactId([6; 32]),
                seq: 41,
            },
            Report::Delivered(MessageId([7; 16])),
            Report::GroupMessage {
                group: [8; 16],
                seq: 0,
            },
        ]),
    )]
}
