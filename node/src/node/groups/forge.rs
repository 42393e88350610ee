//! What a hostile member can send (simulation only): group changes it made up, claiming
//! another member wrote them. An honest node never sends these; the simulator's scripted
//! runs use them to check that the receiving side refuses them (`inbound_group`).

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
}
