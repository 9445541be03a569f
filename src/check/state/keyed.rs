//! The servers of a board: in key order for everything that lists them, found by hash for
//! the result of each probe. A checker delivers thousands of results a second to boards
//! it holds all of in memory, and a B-tree's search was the largest share of its own work.

use std::hash::Hash;

use rustc_hash::FxHashMap;

#[derive(Clone, Debug)]
pub struct Keyed<K, V> {
    /// In key order.
    items: Vec<(K, V)>,
    /// Where each key is in `items`.
    at: FxHashMap<K, usize>,
}

impl<K, V> Default for Keyed<K, V> {
    fn default() -> Self {
        Keyed {
            items: Vec::new(),
            at: FxHashMap::default(),
        }
    }
}

impl<K: Ord + Hash + Clone, V> Keyed<K, V> {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn contains_key(&self, k: &K) -> bool {
        self.at.contains_key(k)
    }

    pub fn get<Q: Hash + Eq + ?Sized>(&self, k: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
    {
        self.at.get(k).map(|&i| &self.items[i].1)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let i = *self.at.get(k)?;
        Some(&mut self.items[i].1)
    }

    /// Puts `v` at `k`, giving back what was there. A new key costs a pass over the later
    /// keys' places (servers join a service far less often than they are checked).
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        if let Some(&i) = self.at.get(&k) {
            return Some(std::mem::replace(&mut self.items[i].1, v));
        }
        let i = self.items.partition_point(|(x, _)| *x < k);
        self.items.insert(i, (k.clone(), v));
        self.at.insert(k, i);
        self.renumber(i + 1);
        None
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        let i = self.at.remove(k)?;
        let (_, v) = self.items.remove(i);
        self.renumber(i);
        Some(v)
    }

    fn renumber(&mut self, from: usize) {
        for (i, (k, _)) in self.items.iter().enumerate().skip(from) {
            if let Some(p) = self.at.get_mut(k) {
                *p = i;
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.items.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.items.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.items.iter().map(|(_, v)| v)
    }
}

impl<K: Ord + Hash + Clone + std::borrow::Borrow<Q>, Q: Hash + Eq + ?Sized, V> std::ops::Index<&Q>
    for Keyed<K, V>
{
    type Output = V;

    /// Panics when `k` is not there, as a map's index does (tests use it).
    fn index(&self, k: &Q) -> &V {
        self.get(k).expect("no such key")
    }
}

impl<'a, K: Ord + Hash + Clone, V> IntoIterator for &'a Keyed<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever is inserted and removed, it answers as a BTreeMap does.
        #[test]
        fn answers_as_a_btreemap(ops in proptest::collection::vec((any::<bool>(), 0u8..40, any::<u16>()), 0..200)) {
            let mut k: Keyed<u8, u16> = Keyed::default();
            let mut b = std::collections::BTreeMap::new();
            for (add, key, v) in ops {
                if add {
                    prop_assert_eq!(k.insert(key, v), b.insert(key, v));
                } else {
                    prop_assert_eq!(k.remove(&key), b.remove(&key));
                }
                prop_assert_eq!(k.len(), b.len());
            }
            let got: Vec<(u8, u16)> = k.iter().map(|(a, b)| (*a, *b)).collect();
            let want: Vec<(u8, u16)> = b.iter().map(|(a, b)| (*a, *b)).collect();
            prop_assert_eq!(got, want);
            for key in 0u8..40 {
                prop_assert_eq!(k.get(&key), b.get(&key));
                prop_assert_eq!(k.contains_key(&key), b.contains_key(&key));
            }
        }
    }
}
