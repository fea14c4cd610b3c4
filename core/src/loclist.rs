//! A SKU's hot levels per location ([`LocList`]), sorted by location id.
//!
//! The first two live inline in the SKU's 128-byte record, so a SKU stocked
//! at one or two locations has no pointer to chase; the rest live in a heap
//! tail of exactly their number. A SKU at ten locations thus costs its
//! record and eight levels on the heap, where a vector that spills would
//! leave the inline room empty and hold all ten.

use crate::ids::LocationId;
use crate::stock::LocLevels;

/// Marks an empty inline slot. Location ids are dense indexes, far below.
const EMPTY: LocationId = LocationId(u32::MAX - 1);

/// Levels per location, sorted by location id: `head` holds the two
/// smallest (empty slots last), `tail` the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LocList {
    head: [LocLevels; 2],
    tail: Box<[LocLevels]>,
}

const _: () = assert!(std::mem::size_of::<LocList>() == 96);

impl Default for LocList {
    fn default() -> Self {
        let empty = LocLevels::new(EMPTY);
        LocList {
            head: [empty, empty],
            tail: Box::default(),
        }
    }
}

impl LocList {
    /// Builds the list from levels sorted by location, each location once.
    pub(crate) fn from_sorted(levels: Vec<LocLevels>) -> Self {
        debug_assert!(levels.windows(2).all(|w| w[0].loc < w[1].loc));
        let mut list = LocList::default();
        let mut rest = levels.into_iter();
        for slot in &mut list.head {
            match rest.next() {
                Some(l) => *slot = l,
                None => return list,
            }
        }
        list.tail = rest.collect();
        list
    }

    #[inline]
    fn head_len(&self) -> usize {
        (self.head[0].loc != EMPTY) as usize + (self.head[1].loc != EMPTY) as usize
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.head_len() + self.tail.len()
    }

    /// The levels in location order.
    #[inline]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &LocLevels> {
        self.head[..self.head_len()].iter().chain(self.tail.iter())
    }

    #[inline]
    pub(crate) fn get(&self, loc: LocationId) -> Option<&LocLevels> {
        if let Some(l) = self.head.iter().find(|l| l.loc == loc) {
            return Some(l);
        }
        self.tail_index(loc).map(|i| &self.tail[i])
    }

    #[inline]
    fn tail_index(&self, loc: LocationId) -> Option<usize> {
        if self.tail.len() <= 8 {
            return self.tail.iter().position(|l| l.loc == loc);
        }
        self.tail.binary_search_by_key(&loc, |l| l.loc).ok()
    }

    /// The levels at `loc`, created empty when missing (the tail grows by
    /// exactly one).
    #[inline]
    pub(crate) fn entry(&mut self, loc: LocationId) -> &mut LocLevels {
        debug_assert!(loc != EMPTY);
        if let Some(i) = self.head.iter().position(|l| l.loc == loc) {
            return &mut self.head[i];
        }
        if let Some(i) = self.tail_index(loc) {
            return &mut self.tail[i];
        }
        let mut tail = std::mem::take(&mut self.tail).into_vec();
        tail.reserve_exact(1);
        self.insert(&mut tail, loc);
        self.tail = tail.into_boxed_slice();
        let i = self.head.iter().position(|l| l.loc == loc);
        match i {
            Some(i) => &mut self.head[i],
            None => {
                let i = self.tail_index(loc).expect("just inserted");
                &mut self.tail[i]
            }
        }
    }

    /// Adds empty levels for each of `locs` not yet present, with one
    /// allocation for all of them (a catalogue load adds many at once).
    pub(crate) fn add_all(&mut self, locs: impl Iterator<Item = LocationId> + Clone) {
        let missing = locs.clone().filter(|&l| self.get(l).is_none()).count();
        if missing == 0 {
            return;
        }
        let mut tail = std::mem::take(&mut self.tail).into_vec();
        tail.reserve_exact(missing.saturating_sub(2 - self.head_len()));
        for loc in locs {
            let present = self.head.iter().any(|l| l.loc == loc)
                || tail.binary_search_by_key(&loc, |l| l.loc).is_ok();
            if !present {
                self.insert(&mut tail, loc);
            }
        }
        self.tail = tail.into_boxed_slice();
    }

    /// Inserts `loc` (absent) in order: into the head while it has room or
    /// `loc` sorts before one of its entries (whose last entry then moves
    /// to the front of the tail), else into the tail.
    fn insert(&mut self, tail: &mut Vec<LocLevels>, loc: LocationId) {
        let mut carry = LocLevels::new(loc);
        for slot in &mut self.head {
            if slot.loc == EMPTY {
                *slot = carry;
                return;
            }
            if carry.loc < slot.loc {
                std::mem::swap(slot, &mut carry);
            }
        }
        let i = tail.partition_point(|l| l.loc < carry.loc);
        tail.insert(i, carry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locs(list: &LocList) -> Vec<u32> {
        list.iter().map(|l| l.loc.0).collect()
    }

    #[test]
    fn stays_sorted_whatever_the_insertion_order() {
        let orders: [&[u32]; 4] = [
            &[0, 1, 2, 3, 4],
            &[4, 3, 2, 1, 0],
            &[2, 0, 4, 1, 3],
            &[3, 1],
        ];
        for order in orders {
            let mut list = LocList::default();
            for (k, &l) in order.iter().enumerate() {
                list.entry(LocationId(l)).on_hand = l as i64 + 10;
                assert_eq!(list.len(), k + 1);
            }
            let mut want: Vec<u32> = order.to_vec();
            want.sort();
            assert_eq!(locs(&list), want, "inserted as {order:?}");
            for &l in order {
                assert_eq!(list.get(LocationId(l)).unwrap().on_hand, l as i64 + 10);
            }
            assert!(list.get(LocationId(99)).is_none());
            let mut bulk = LocList::default();
            bulk.add_all(order.iter().map(|&l| LocationId(l)));
            assert_eq!(locs(&bulk), want);
            assert_eq!(LocList::from_sorted(list.iter().copied().collect()), list);
        }
    }

    #[test]
    fn add_all_skips_present_and_repeated_locations() {
        let mut list = LocList::default();
        list.entry(LocationId(5)).on_hand = 7;
        list.add_all([5, 1, 9, 1, 12, 3].into_iter().map(LocationId));
        assert_eq!(locs(&list), [1, 3, 5, 9, 12]);
        assert_eq!(list.get(LocationId(5)).unwrap().on_hand, 7);
    }
}
