//! The demo is a test too: a small day on several threads keeps every invariant.

#[test]
fn a_small_omnichannel_day_keeps_every_invariant() {
    let day = unistock_examples::run_day(3_000, 4, 40).expect("the day runs");
    for (name, ok) in &day.invariants {
        assert!(ok, "invariant failed: {name}");
    }
    let k = &day.kpis;
    assert!(
        k.holds_created > 0 && k.holds_committed > 0 && k.holds_expired > 0,
        "{k:?}"
    );
    assert!(k.till_sales > 0 && k.oversells_prevented() > 0, "{k:?}");
    assert!(day.availability_after["web"] < day.availability_before["web"]);
}
