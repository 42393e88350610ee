//! Groups in the simulation (`Config::groups`): after the contacts are set up, `n0` creates a
//! group of every machine (those that are not contacts of each other are introduced, and
//! every introduction is accepted); the workload then also sends to the group, under the same
//! faults. The invariants: a group message is shown at most once to each member, never to its
//! author, always with its author's name and id; once the network healed, every group
//! message reported `queued` has been shown by every other member, and every member shows
//! the group's messages in the same order.

use super::*;
use crate::api::{GroupRef, MessageId};

/// The prefix of every group text of the workload (and of its client ref).
pub(crate) const GROUP_PREFIX: &str = "g ";

#[derive(Debug)]
struct GroupSent {
    from: usize,
    id: Option<MessageId>,
    /// The members that showed it, each with its epoch then: shown again in a later epoch
    /// (after a restart) is a report repeated (at-least-once, `store::Report`), in the same
    /// one a message shown twice.
    shown: BTreeMap<usize, u32>,
}

/// The group's state in the world, and its oracle.
#[derive(Debug, Default)]
pub(crate) struct GroupSim {
    /// The group, once its creator reported it.
    group: Option<GroupRef>,
    /// Machines that have the group.
    joined: BTreeSet<usize>,
    sent: BTreeMap<String, GroupSent>,
    /// The last `group_history` of each machine.
    histories: BTreeMap<usize, Vec<String>>,
}

impl GroupSim {
    /// Checks one event of machine `at` (named as in `names`).
    pub(crate) fn observe(
        &mut self,
        at: usize,
        epoch: u32,
        ev: &Event,
        names: &[String],
    ) -> Result<(), String> {
        let name = |i: usize| names.get(i).cloned().unwrap_or_default();
        match ev {
            Event::Group { group, .. } => {
                if self.group.as_ref().is_some_and(|g| *g != group.id) {
                    return Err(format!("{} joined a second group", name(at)));
                }
                self.group = Some(group.id.clone());
                self.joined.insert(at);
            }
            Event::Queued {
                id,
                client_ref: Some(text),
            } if text.starts_with(GROUP_PREFIX) => {
                let Some(m) = self.sent.get_mut(text.as_str()) else {
                    return Err(format!(
                        "{} queued a group message never asked for",
                        name(at)
                    ));
                };
                if m.from != at {
                    return Err(format!("{} queued another's group message", name(at)));
                }
                m.id = Some(id.clone());
            }
            Event::GroupMessage { from, id, text, .. } => {
                let Some(m) = self.sent.get_mut(text.as_str()) else {
                    return Err(format!(
                        "{} showed a group message nobody sent (altered?): {text:?}",
                        name(at)
                    ));
                };
                if m.from == at {
                    return Err(format!("{text:?} shown to its own author"));
                }
                if *from != name(m.from) {
                    return Err(format!("{text:?} shown as from {from}"));
                }
                if m.id.as_ref().is_some_and(|i| i != id) {
                    return Err(format!("{text:?} shown under another id"));
                }
                if m.shown.insert(at, epoch).is_some_and(|e| e == epoch) {
                    return Err(format!("{text:?} shown twice to {}", name(at)));
                }
            }
            Event::GroupHistory { messages, .. } => {
                self.histories
                    .insert(at, messages.iter().map(|m| m.text.clone()).collect());
            }
            _ => {}
        }
        Ok(())
    }

    /// Once healed: every queued group message shown by every other member.
    fn check_shown(&self, members: usize, names: &[String]) -> Result<(), String> {
        for (text, m) in &self.sent {
            if m.id.is_none() {
                continue;
            }
            for i in (0..members).filter(|i| *i != m.from) {
                if !m.shown.contains_key(&i) {
                    return Err(format!(
                        "group message {text:?} was queued but never shown to {}",
                        names.get(i).cloned().unwrap_or_default()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Once healed: every member's history holds the same messages in the same order.
    fn check_order(&self, members: usize) -> Result<(), String> {
        let first = self.histories.get(&0).cloned().unwrap_or_default();
        let queued = self.sent.values().filter(|m| m.id.is_some()).count();
        if first.len() < queued {
            return Err(format!(
                "n0's group history holds {} messages, {queued} were queued",
                first.len()
            ));
        }
        for i in 1..members {
            if self.histories.get(&i) != Some(&first) {
                return Err(format!("n{i} shows the group's messages in another order"));
            }
        }
        Ok(())
    }
}

impl World {
    /// `n0` creates the group of every machine; waits until every machine has it.
    pub(super) fn set_up_group(&mut self) -> Result<(), String> {
        let members: Vec<crate::api::Alias> = self
            .machines
            .iter()
            .skip(1)
            .map(|m| m.name.as_str().into())
            .collect();
        self.input(0, |n| {
            n.command(Command::GroupCreate {
                name: "sim".into(),
                members,
            })
        })?;
        let n = self.machines.len();
        let end = self.now + SETUP_MS;
        self.run_until(end, |w| w.groups.joined.len() == n)?;
        if self.groups.joined.len() != n {
            return Err("the group was not set up".into());
        }
        Ok(())
    }

    /// Accepts an introduction on machine `i` (the workload accepts every one).
    pub(super) fn accept_introduction(&mut self, i: usize, id: crate::api::IntroId) {
        // A scripted run answers introductions itself, when it wants.
        if self.log.is_some() {
            return;
        }
        let t = self.now + 10;
        self.at(
            t,
            Item::Command(i, Command::AcceptIntroduction { id, alias: None }),
        );
    }

    /// A group send from a random running member; false if none could send.
    pub(super) fn group_send(&mut self) -> Result<bool, String> {
        let Some(group) = self.groups.group.clone() else {
            return Ok(false);
        };
        let up: Vec<usize> = (0..self.machines.len()).filter(|i| self.up(*i)).collect();
        let Some(&from) = up.get(self.rng.gen_range(0..up.len().max(1))) else {
            return Ok(false);
        };
        self.group_send_from(group, from, "").map(|_| true)
    }

    /// Member `from` sends a text (with `label` in it) to the group, checked by the
    /// oracle; the text.
    pub(super) fn group_send_from(
        &mut self,
        group: GroupRef,
        from: usize,
        label: &str,
    ) -> Result<String, String> {
        let text = format!("{GROUP_PREFIX}{} n{from}{label}", self.sent);
        self.sent += 1;
        self.groups.sent.insert(
            text.clone(),
            GroupSent {
                from,
                id: None,
                shown: BTreeMap::new(),
            },
        );
        let cmd = Command::GroupSend {
            group,
            text: text.clone(),
            client_ref: Some(text.clone().into()),
        };
        self.input(from, |n| n.command(cmd))?;
        Ok(text)
    }

    /// After healing: every group message shown everywhere, in one order.
    pub(super) fn check_group_end(&mut self) -> Result<(), String> {
        let names: Vec<String> = self.machines.iter().map(|m| m.name.clone()).collect();
        self.groups.check_shown(names.len(), &names)?;
        let Some(group) = self.groups.group.clone() else {
            return Err("no group".into());
        };
        for i in 0..names.len() {
            let g = group.clone();
            self.input(i, |n| {
                n.command(Command::GroupHistory {
                    group: g,
                    limit: Some(100_000),
                })
            })?;
        }
        self.groups.check_order(names.len())
    }
}
