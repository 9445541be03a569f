//! The sandbox itself: IPVS is there, and namespaces keep tests apart.

use crate::support::*;

#[test]
fn ipvs_is_in_the_sandbox_kernel() {
    in_netns(|| {
        let table = proc_net("ip_vs");
        assert!(table.starts_with("IP Virtual Server version 1.2.1"), "{table}");
        assert!(ipvsadm("-Ln").contains("IP Virtual Server version 1.2.1"));
    });
}

#[test]
fn one_namespace_cannot_see_another_s_rules() {
    let mine = in_netns(|| {
        ipvsadm("-A -t 192.0.2.1:80 -s rr");
        let seen = ipvsadm("-Sn");
        let other = std::thread::spawn(|| in_netns(|| (ipvsadm("-Sn"), proc_net("ip_vs"))))
            .join()
            .unwrap();
        (seen, other)
    });
    let (seen, (other_save, other_proc)) = mine;
    assert_eq!(seen, "-A -t 192.0.2.1:80 -s rr\n");
    assert_eq!(other_save, "");
    assert!(!other_proc.contains("C0000201"), "{other_proc}");
}
