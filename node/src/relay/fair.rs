//! Round-robin between sources: the mailbox thread takes a few requests at a time, one
//! source after another, so a source with many requests waiting delays another's by one
//! request, not by all of its own.

use std::collections::{HashMap, VecDeque};

/// Requests waiting per source, served in turn.
#[derive(Debug)]
pub struct FairQueue<K, J> {
    per: HashMap<K, VecDeque<J>>,
    order: VecDeque<K>,
}

impl<K, J> Default for FairQueue<K, J> {
    fn default() -> Self {
        Self {
            per: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Copy, J> FairQueue<K, J> {
    /// Adds a request of `source`.
    pub fn push(&mut self, source: K, job: J) {
        let q = self.per.entry(source).or_default();
        if q.is_empty() {
            self.order.push_back(source);
        }
        q.push_back(job);
    }

    /// The next request: the oldest of the source whose turn it is.
    pub fn pop(&mut self) -> Option<J> {
        let source = self.order.pop_front()?;
        let q = self.per.get_mut(&source)?;
        let job = q.pop_front();
        if q.is_empty() {
            self.per.remove(&source);
        } else {
            self.order.push_back(source);
        }
        job
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Catches a queue that serves one source's backlog before another's first request.
    #[test]
    fn sources_take_turns() {
        let mut q = FairQueue::default();
        for i in 0..5 {
            q.push('a', ('a', i));
        }
        q.push('b', ('b', 0));
        q.push('b', ('b', 1));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            [
                ('a', 0),
                ('b', 0),
                ('a', 1),
                ('b', 1),
                ('a', 2),
                ('a', 3),
                ('a', 4)
            ]
        );
    }
}
