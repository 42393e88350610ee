//! Groups seen and driven from the simulator's scripted runs (feature `sim` only): what a
//! hostile member can send — group changes it made up, claiming another member wrote them,
//! which an honest node never sends (the receiving side must refuse them: `inbound_group`)
//! — and what a node keeps of a group's messages at rest, whatever it shows.

use super::*;

impl<S: Shell> Runtime<S> {
    /// Sends `to`, over the session with it, one part of `group`'s changes made of `ops`
    /// (each `(author, change)` stamped as written by `author`, at clocks just past ours):
    /// encrypted, stored and sent like any group copy. Fails if we do not know the group or
    /// have no session with `to`.
    pub(crate) fn forge_group_ops(
        &mut self,
        group: &str,
        to: MemberKey,
        ops: Vec<(MemberKey, Change)>,
    ) -> Result<(), String> {
        let gid = self.group_by_ref(group, None).ok_or("no such group")?;
        let clock = self.groups.get(&gid).map_or(0, Log::clock);
        let ops = (1..)
            .zip(ops)
            .map(|(k, (author, change))| Op {
                stamp: Stamp {
                    clock: clock + k,
                    author,
                },
                change,
            })
            .collect();
        let fan = vec![(to, vec![Out::body(GroupBody::Ops(ops))])];
        let unreachable = self.fan_out(Some(gid), None, fan, None, Vec::new())?;
        if unreachable.is_empty() {
            Ok(())
        } else {
            Err("no session with that member".into())
        }
    }

    /// Our key as a group member.
    pub(crate) fn member_key(&self) -> MemberKey {
        self.me()
    }

    /// The texts of `group`'s messages this node keeps in its store, shown or not (a
    /// removed member must not keep what was written after its removal).
    pub(crate) fn stored_group_texts(&self, group: &str) -> Result<Vec<String>, String> {
        let gid = self.group_by_ref(group, None).ok_or("no such group")?;
        let conv = self.profile.store.group_conversation(&gid.0);
        let listing = self
            .profile
            .store
            .messages(&conv)
            .map_err(|e| e.to_string())?;
        Ok(listing.items.into_iter().map(|m| m.text).collect())
    }
}
