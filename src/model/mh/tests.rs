use super::*;
use std::net::Ipv4Addr;

fn dest(addr: &str, port: u16, weight: u32) -> Dest {
    Dest {
        weight,
        ..Dest::new(addr.parse().unwrap(), port)
    }
}

#[test]
fn hsiphash_gives_the_kernels_test_vectors() {
    // lib/test_siphash.c: the key 00..0f, inputs 00 01 .. (i-1) of length i
    let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
    let want: [u32; 17] = [
        0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67, 0xc59f22a7, 0x9bb11140,
        0x8d299a8e, 0x6c063de4, 0x92ff097f, 0xf94dc352, 0x57b4d9a2, 0x1229ffa7, 0xc0f95d34, 0x2a519956,
        0x7d908b66,
    ];
    for (i, w) in want.iter().enumerate() {
        let input: Vec<u8> = (0..i as u8).collect();
        assert_eq!(hsiphash(&input, key), *w, "input of {i} bytes");
    }
}

#[test]
fn offsets_and_skips_match_an_independent_model_of_the_scheduler() {
    let n = SLOTS as u32;
    for (addr, port, h1, h2) in [
        ("10.0.0.1", 80, 0x439c0cbe, 0x97b3dc47),
        ("10.0.0.2", 80, 0xa1cf683b, 0xfa5d46df),
        ("192.168.1.10", 8080, 0x59299ba7, 0xe144ac00),
        ("2001:db8::1", 443, 0x9238df72, 0xbbf4070c),
    ] {
        let a: IpAddr = addr.parse().unwrap();
        assert_eq!(hashkey(a, port, KEY1, 0), h1, "{addr}");
        assert_eq!(hashkey(a, port, KEY2, 0), h2, "{addr}");
    }
    assert_eq!(hashkey("10.0.0.1".parse().unwrap(), 80, KEY1, 0) % n, 3167);
    assert_eq!(
        hashkey("10.0.0.1".parse().unwrap(), 80, KEY2, 0) % (n - 1) + 1,
        700
    );
}

#[test]
fn three_equal_servers_share_the_slots_as_the_kernel_fills_them() {
    let t = table(&[
        dest("10.0.0.3", 80, 1),
        dest("10.0.0.2", 80, 1),
        dest("10.0.0.1", 80, 1),
    ])
    .unwrap();
    let first: Vec<u16> = t.slots[..16].iter().map(|s| s.unwrap()).collect();
    assert_eq!(first, [2, 1, 1, 0, 0, 2, 1, 0, 0, 2, 2, 1, 1, 2, 2, 0]);
    let shares: Vec<usize> = t.shares().into_iter().map(|(_, n)| n).collect();
    assert_eq!(shares, [1365, 1364, 1364]);
    let c = IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4));
    assert_eq!(Table::slot_of(c, 0), 2197);
    assert_eq!(t.server_for(c, 0), Some(("10.0.0.2".parse().unwrap(), 80)));
}

#[test]
fn the_same_servers_in_another_order_make_another_table() {
    let servers: Vec<Dest> = (1..=50)
        .map(|i| dest(&format!("10.0.{}.{}", i / 200, i % 200 + 1), 80, 1))
        .collect();
    let mut reversed = servers.clone();
    reversed.reverse();
    let (a, b) = (table(&servers).unwrap(), table(&reversed).unwrap());
    assert_ne!(a.fingerprint(), b.fingerprint());
    let differ = a
        .slots
        .iter()
        .zip(&b.slots)
        .filter(|(x, y)| a.servers[usize::from(x.unwrap())] != b.servers[usize::from(y.unwrap())])
        .count();
    assert!(differ > 0 && differ < SLOTS / 10, "{differ} slots differ");
    // the fingerprint names owners by address: the same order gives the same digest
    assert_eq!(a.fingerprint(), table(&servers).unwrap().fingerprint());
    assert!(is_canonical(&servers) && !is_canonical(&reversed));
}

#[test]
fn weights_take_turns_in_proportion_and_zero_takes_none() {
    let t = table(&[
        dest("10.0.0.1", 80, 3),
        dest("10.0.0.2", 80, 1),
        dest("10.0.0.3", 80, 0),
    ])
    .unwrap();
    let shares: Vec<usize> = t.shares().into_iter().map(|(_, n)| n).collect();
    assert_eq!(shares[0] + shares[1], SLOTS);
    assert_eq!(shares[2], 0);
    assert!(
        (shares[0] as f64 / shares[1] as f64 - 3.0).abs() < 0.01,
        "{shares:?}"
    );
    // no server with weight: an empty table
    let t = table(&[dest("10.0.0.1", 80, 0)]).unwrap();
    assert!(t.slots.iter().all(Option::is_none));
    assert!(table(&[]).unwrap().slots.iter().all(Option::is_none));
}

#[test]
fn more_servers_than_slots_have_no_table() {
    let many: Vec<Dest> = (0..=SLOTS as u32)
        .map(|i| Dest::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 80))
        .collect();
    assert!(table(&many).is_none());
}
