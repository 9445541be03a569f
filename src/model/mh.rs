//! The kernel's Maglev table (the `mh` scheduler), computed in user space from a service's
//! real-server list as the kernel holds it, so that directors that share flows by ECMP can
//! compare what they would do with a flow.
//!
//! The table depends on the list's order, not only on its contents: the kernel fills the
//! slots dest by dest in list order, and it inserts a new real server at the head of the
//! list. Two directors given the same servers in a different history build different tables;
//! `canonical` is the order lvsh keeps (see `plan`), and a list in another order is reported.

use std::net::IpAddr;

use crate::ipvs::Dest;
use crate::model::order::dest_cmp;

/// Slots in the table: the prime for `CONFIG_IP_VS_MH_TAB_INDEX=12` (Debian's kernels; the
/// kernel's default). A kernel built with another index would need another prime.
pub const SLOTS: usize = 4093;
/// The kernel packs weights so that the heaviest server takes at most 2^TAB_BITS turns in
/// a row (TAB_BITS = TAB_INDEX / 2).
const TAB_BITS: u32 = 6;

/// The two fixed keys the scheduler hashes with (they are constants in the kernel, not
/// per-boot secrets, which is what makes tables on different directors comparable).
const KEY1: [u64; 2] = [2_654_435_761, 2_654_435_761];
const KEY2: [u64; 2] = [2_654_446_892, 2_654_446_892];

/// The kernel's hsiphash as built on 64-bit machines: SipHash-1-3 over 64-bit words, the low
/// 32 bits of the final xor.
fn hsiphash(data: &[u8], key: [u64; 2]) -> u32 {
    let mut v = [
        0x736f_6d65_7073_6575 ^ key[0],
        0x646f_7261_6e64_6f6d ^ key[1],
        0x6c79_6765_6e65_7261 ^ key[0],
        0x7465_6462_7974_6573 ^ key[1],
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes(c.try_into().unwrap_or_default());
        v[3] ^= m;
        round(&mut v);
        v[0] ^= m;
    }
    let mut b = (data.len() as u64) << 56;
    for (i, byte) in chunks.remainder().iter().enumerate() {
        b |= u64::from(*byte) << (8 * i);
    }
    v[3] ^= b;
    round(&mut v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for _ in 0..3 {
        round(&mut v);
    }
    (v[0] ^ v[1] ^ v[2] ^ v[3]) as u32
}

/// What the scheduler hashes for an address and port: the address folded to 32 bits (IPv6:
/// the xor of its four words) plus the port and an offset, as a host-order u32.
fn hashkey(addr: IpAddr, port: u16, key: [u64; 2], offset: u32) -> u32 {
    let fold = match addr {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let o = a.octets();
            (0..4).fold(0u32, |x, i| {
                x ^ u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
            })
        }
    };
    let v = offset.wrapping_add(u32::from(port)).wrapping_add(fold);
    // the kernel hashes the u32's bytes as they lie in memory: little-endian on x86 and UML
    hsiphash(&v.to_le_bytes(), key)
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A computed table: each slot holds the index (in the list given) of its real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub slots: Vec<Option<u16>>,
    /// Per server of the list: (address, port), to name the slots' owners.
    pub servers: Vec<(IpAddr, u16)>,
}

/// The table the kernel builds from `dests` in its list order (the dump's order), each at
/// `weight` taken as the kernel's last non-zero weight. More servers than slots: the kernel
/// keeps its old table, so there is none to compute.
pub fn table(dests: &[Dest]) -> Option<Table> {
    if dests.len() > SLOTS {
        return None;
    }
    let servers: Vec<(IpAddr, u16)> = dests.iter().map(|d| (d.addr, d.port)).collect();
    let mut slots = vec![None; SLOTS];
    let g = dests.iter().map(|d| d.weight).filter(|w| *w > 0).fold(0, gcd);
    if g == 0 {
        return Some(Table { slots, servers });
    }
    let most = dests.iter().map(|d| d.weight).max().unwrap_or(0) / g;
    let shift = (32 - most.leading_zeros()).saturating_sub(TAB_BITS);
    let n = SLOTS as u32;
    // per server: where it tries next, its step, and its turns per pass
    let mut perm: Vec<(u32, u32, u32)> = dests
        .iter()
        .map(|d| {
            let offset = hashkey(d.addr, d.port, KEY1, 0) % n;
            let skip = hashkey(d.addr, d.port, KEY2, 0) % (n - 1) + 1;
            let turns = match (d.weight / g) >> shift {
                0 => u32::from(d.weight != 0),
                t => t,
            };
            (offset, skip, turns)
        })
        .collect();
    let mut filled = 0;
    while filled < SLOTS {
        for (i, p) in perm.iter_mut().enumerate() {
            for _ in 0..p.2 {
                while slots[p.0 as usize].is_some() {
                    p.0 += p.1;
                    if p.0 >= n {
                        p.0 -= n;
                    }
                }
                slots[p.0 as usize] = Some(i as u16);
                filled += 1;
                if filled == SLOTS {
                    return Some(Table { slots, servers });
                }
            }
        }
    }
    Some(Table { slots, servers })
}

impl Table {
    /// The slot a flow from `client` hashes to (its port counts only with the mh-port flag,
    /// as the kernel does; without it pass 0).
    pub fn slot_of(client: IpAddr, port: u16) -> usize {
        hashkey(client, port, KEY1, 0) as usize % SLOTS
    }

    /// The real server the table gives a flow from `client`:`port`, before the kernel's
    /// availability test (weight 0 or overloaded: no server, or with mh-fallback the next
    /// one; lvsh does not predict fallback).
    pub fn server_for(&self, client: IpAddr, port: u16) -> Option<(IpAddr, u16)> {
        self.slots[Table::slot_of(client, port)].map(|i| self.servers[usize::from(i)])
    }

    /// Slots per server, in list order.
    pub fn shares(&self) -> Vec<((IpAddr, u16), usize)> {
        let mut n = vec![0usize; self.servers.len()];
        for i in self.slots.iter().flatten() {
            n[usize::from(*i)] += 1;
        }
        self.servers.iter().copied().zip(n).collect()
    }

    /// A digest of who owns each slot, by address and port (not list position), so that two
    /// directors' tables have the same fingerprint exactly when they send every flow alike.
    pub fn fingerprint(&self) -> String {
        // FNV-1a: stable across builds and machines, which std's hasher does not promise
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for slot in &self.slots {
            match slot.map(|i| self.servers[usize::from(i)]) {
                None => eat(&[0]),
                Some((IpAddr::V4(a), p)) => {
                    eat(&[4]);
                    eat(&a.octets());
                    eat(&p.to_be_bytes());
                }
                Some((IpAddr::V6(a), p)) => {
                    eat(&[6]);
                    eat(&a.octets());
                    eat(&p.to_be_bytes());
                }
            }
        }
        format!("{h:016x}")
    }
}

/// Whether a list (in the kernel's order) is in the order lvsh keeps for mh services:
/// ascending by address, then port (the kernel lists the newest first, so lvsh adds them in
/// descending order).
pub fn is_canonical(dests: &[Dest]) -> bool {
    dests.windows(2).all(|w| dest_cmp(&w[0], &w[1]).is_lt())
}

#[cfg(test)]
mod tests;
