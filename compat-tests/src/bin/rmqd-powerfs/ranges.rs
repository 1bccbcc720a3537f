//! The byte ranges of a file written since its last fsync: what an fsync has to copy, so
//! that syncing a few pages of a large mapped file does not copy the whole file.

use std::collections::BTreeMap;

#[derive(Debug, Default, Clone)]
pub struct Ranges {
    /// start -> end, disjoint and not touching.
    map: BTreeMap<u64, u64>,
}

impl Ranges {
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut start, mut end) = (start, end);
        // Merge with every range that overlaps or touches [start, end).
        let touching: Vec<(u64, u64)> = self
            .map
            .range(..=end)
            .rev()
            .take_while(|(_, e)| **e >= start)
            .map(|(s, e)| (*s, *e))
            .collect();
        for (s, e) in touching {
            self.map.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.map.insert(start, end);
    }

    pub fn take(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.map).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_overlapping_and_touching() {
        let mut r = Ranges::default();
        r.insert(10, 20);
        r.insert(30, 40);
        r.insert(20, 25);
        r.insert(0, 5);
        assert_eq!(r.clone().take(), vec![(0, 5), (10, 25), (30, 40)]);
        r.insert(3, 35);
        assert_eq!(r.take(), vec![(0, 40)]);
        assert_eq!(r.take(), vec![]);
    }
}
