//! The sweeper of expired messages and the integrity check of every tree.

use super::*;

impl Store {
    // -----------------------------------------------------------------------------------------
    // Sweeper, check

    /// Removes expired disappearing messages (and their outbox entries), expired invites, and
    /// dedup ids older than [`DEDUP_RETENTION_MS`]. Call periodically with the current time.
    /// Durable. Damaged records are counted, not removed (see [`Store::check`]).
    pub fn sweep(&self, now_ms: u64) -> Result<SweepReport, StoreError> {
        let _w = lock_ignoring_poison(&self.writer);
        let mut report = SweepReport::default();
        let mut b = WriteBatch::new();
        let mut expired: HashSet<MessageId> = HashSet::new();
        let convs = self.scan_records(TreeName::Conversations, &[])?;
        report.damaged += convs.damaged.len();
        for (k, r) in convs.items {
            let Record::Conversation(c) = r else { continue };
            if !c.has_expiring {
                continue;
            }
            for entry in self.backend.scan_prefix(TreeName::Messages, &k) {
                let (mk, mv) = entry?;
                match self.open_record(TreeName::Messages, &mk, mv) {
                    Ok(Record::Message(m)) => {
                        if m.expires_at_ms.is_some_and(|e| e <= now_ms) {
                            b.remove(TreeName::Messages, mk);
                            b.remove(
                                TreeName::Outbox,
                                self.keys.blind(purpose::OUTBOX, &m.id.0).to_vec(),
                            );
                            expired.insert(m.id);
                            report.messages_removed += 1;
                        }
                    }
                    _ => report.damaged += 1,
                }
            }
        }
        if !expired.is_empty() {
            // Their envelopes in batch records go too (the record is rewritten without them).
            for (k, r) in self.scan_records(TreeName::Outbox, &[])?.items {
                let Record::OutboxBatch(entries) = r else {
                    continue;
                };
                if !entries.iter().any(|e| expired.contains(&e.message_id)) {
                    continue;
                }
                let kept: Vec<OutboxEntry> = entries
                    .into_iter()
                    .filter(|e| !expired.contains(&e.message_id))
                    .collect();
                if kept.is_empty() {
                    b.remove(TreeName::Outbox, k);
                } else {
                    self.put(&mut b, TreeName::Outbox, k, &Record::OutboxBatch(kept))?;
                }
            }
        }
        let invites = self.scan_records(TreeName::Invites, &[])?;
        report.damaged += invites.damaged.len();
        for (k, r) in invites.items {
            let expires_at_ms = match r {
                Record::Invite(i) => i.expires_at_ms,
                Record::UsedInvite(u) => u.expires_at_ms,
                _ => continue,
            };
            if expires_at_ms <= now_ms {
                b.remove(TreeName::Invites, k);
                report.invites_removed += 1;
            }
        }
        let dedup = self.scan_records(TreeName::Dedup, &[])?;
        report.damaged += dedup.damaged.len();
        for (k, r) in dedup.items {
            if let Record::Dedup(d) = r {
                if d.received_at_ms.saturating_add(DEDUP_RETENTION_MS) <= now_ms {
                    b.remove(TreeName::Dedup, k);
                    report.dedup_removed += 1;
                }
            }
        }
        self.backend.apply(&b)?;
        drop(_w);
        self.group.wait_durable(self.backend.as_ref())?;
        Ok(report)
    }

    /// Reads every record of every tree and reports, per tree, how many are readable and which
    /// are damaged (failed authentication, malformed, or under a malformed key). Never panics;
    /// never stops at the first damaged record.
    pub fn check(&self) -> CheckReport {
        let mut trees = Vec::with_capacity(TreeName::ALL.len());
        for tree in TreeName::ALL {
            let mut t = TreeCheck {
                tree,
                readable: 0,
                damaged: Vec::new(),
                scan_error: None,
            };
            for entry in self.backend.scan_prefix(tree, &[]) {
                match entry {
                    Ok((k, v)) => match self.open_record(tree, &k, v) {
                        Ok(_) => t.readable += 1,
                        Err(d) => t.damaged.push(d),
                    },
                    Err(e) => {
                        t.scan_error = Some(e);
                        break;
                    }
                }
            }
            trees.push(t);
        }
        CheckReport { trees }
    }
}
