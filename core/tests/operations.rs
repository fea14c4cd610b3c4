//! One test per operation and per error, through the public API.

mod common;
use common::*;
use rust_decimal::Decimal;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use unistock::*;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[test]
fn receive_creates_the_sku_and_adds_on_hand() {
    let (e, _) = shop();
    receive(&e, "tee", "wh-1", 5);
    let l = e.levels("tee", "wh-1").unwrap();
    assert_eq!((l.on_hand, l.available), (5.into(), 5.into()));
    assert_eq!(e.skus(), vec![("tee".to_string(), 0)]);
    assert_ledger_folds(&e);
}

#[test]
fn receive_rejects_bad_input_and_changes_nothing() {
    let (e, _) = shop();
    for q in [
        Qty::units(0),
        Qty::units(-1),
        Qty::from(d("0.5")),
        Qty::from(u64::MAX),
    ] {
        let err = e.receive("tee", "wh-1", q, Note::default()).unwrap_err();
        assert_eq!(err.code(), "E_INVALID_QUANTITY", "{q}");
    }
    assert!(
        e.skus().is_empty(),
        "a refused receipt must not create the SKU"
    );
    assert_eq!(
        e.receive("tee", "nowhere", 1.into(), Note::default())
            .unwrap_err()
            .code(),
        "E_UNKNOWN_LOCATION"
    );
    assert_eq!(
        e.receive("", "wh-1", 1.into(), Note::default())
            .unwrap_err()
            .code(),
        "E_INVALID_ARGUMENT"
    );
    assert_eq!(e.last_seq(), 7, "only the topology events of the fixture");
}

#[test]
fn decimal_skus_take_exact_quantities() {
    let (e, _) = shop();
    e.declare_sku("rope-m", SkuSpec { unit_scale: 2 }).unwrap();
    e.receive("rope-m", "wh-1", d("10.50").into(), Note::default())
        .unwrap();
    let lines = [HoldLine::new("rope-m", d("2.25"))];
    e.hold(&HoldRequest::new("h", "web", &lines, MIN)).unwrap();
    assert_eq!(
        e.availability("web", "rope-m").unwrap(),
        Qty::from(d("8.25"))
    );
    let bad = [HoldLine::new("rope-m", d("0.001"))];
    let err = e
        .hold(&HoldRequest::new("h2", "web", &bad, MIN))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidQuantity {
                problem: QtyProblem::TooManyDecimals,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        e.declare_sku("rope-m", SkuSpec { unit_scale: 2 })
            .unwrap()
            .index(),
        0
    );
    assert_eq!(
        e.declare_sku("rope-m", SkuSpec { unit_scale: 3 })
            .unwrap_err()
            .code(),
        "E_ID_CONFLICT"
    );
    assert_ledger_folds(&e);
}

#[test]
fn count_sets_on_hand_and_reports_variance_and_shortage() {
    let (e, _) = shop();
    receive(&e, "tee", "store-1", 5);
    let lines = [HoldLine::new("tee", 4).at("store-1")];
    e.hold(&HoldRequest::new("h", "web", &lines, MIN)).unwrap();
    let r = e
        .count("tee", "store-1", 3.into(), Note::new("cycle_count", "C-1"))
        .unwrap();
    assert_eq!(r.variance, Qty::units(-2));
    assert_eq!(r.shortage, Qty::units(1));
    assert_eq!(r.levels.available, Qty::ZERO);
    let k = e.kpis();
    assert_eq!(
        (
            k.counts,
            k.shortages,
            k.count_variance_units,
            k.shortage_units
        ),
        (1, 1, d("2"), d("1"))
    );
    let kinds: Vec<_> = e
        .events_since(0, 100)
        .unwrap()
        .into_iter()
        .map(|x| x.kind)
        .collect();
    assert!(kinds.contains(&EventKind::Shortage));
    assert_ledger_folds(&e);
}

#[test]
fn write_off_and_conditions() {
    let (e, _) = shop();
    receive(&e, "tee", "wh-1", 10);
    e.mark_unsellable(
        "tee",
        "wh-1",
        3.into(),
        Condition::Damaged,
        Note::reason("dropped"),
    )
    .unwrap();
    e.mark_unsellable(
        "tee",
        "wh-1",
        2.into(),
        Condition::QualityControl,
        Note::default(),
    )
    .unwrap();
    let l = e.levels("tee", "wh-1").unwrap();
    assert_eq!(
        (l.damaged, l.quality_control, l.unsellable, l.available),
        (3.into(), 2.into(), 5.into(), 5.into())
    );
    e.restore_sellable(
        "tee",
        "wh-1",
        2.into(),
        Condition::QualityControl,
        Note::default(),
    )
    .unwrap();
    e.write_off(
        "tee",
        "wh-1",
        3.into(),
        Some(Condition::Damaged),
        Note::default(),
    )
    .unwrap();
    e.write_off("tee", "wh-1", 1.into(), None, Note::reason("theft"))
        .unwrap();
    let l = e.levels("tee", "wh-1").unwrap();
    assert_eq!(
        (l.on_hand, l.unsellable, l.available),
        (6.into(), 0.into(), 6.into())
    );
    let err = e
        .write_off("tee", "wh-1", 7.into(), None, Note::default())
        .unwrap_err();
    assert_eq!(err.code(), "E_INSUFFICIENT_STOCK");
    let err = e
        .restore_sellable("tee", "wh-1", 1.into(), Condition::Damaged, Note::default())
        .unwrap_err();
    assert_eq!(err.code(), "E_INSUFFICIENT_STOCK");
    assert_eq!(e.levels("tee", "wh-1").unwrap().on_hand, 6.into());
    assert_ledger_folds(&e);
}

#[test]
fn safety_stock_reduces_atp() {
    let (e, _) = shop();
    receive(&e, "tee", "wh-1", 10);
    e.set_safety("tee", "wh-1", 4.into(), Note::default())
        .unwrap();
    assert_eq!(e.atp("tee", "wh-1").unwrap(), 6.into());
    e.set_safety("tee", "wh-1", 1.into(), Note::default())
        .unwrap();
    assert_eq!(e.atp("tee", "wh-1").unwrap(), 9.into());
    assert_ledger_folds(&e);
}

#[test]
fn expected_receipts_are_tracked_and_consumed_by_receipts() {
    let (e, _) = shop();
    receive(&e, "tee", "wh-1", 1);
    e.expect_receipt("tee", "wh-1", 10.into(), T0 + 86_400_000, "PO-9")
        .unwrap();
    assert_eq!(e.levels("tee", "wh-1").unwrap().incoming, 10.into());
    e.expect_receipt("tee", "wh-1", 8.into(), T0 + 2 * 86_400_000, "PO-9")
        .unwrap();
    assert_eq!(
        e.expected_receipts("tee", "wh-1").unwrap(),
        vec![("PO-9".into(), 8.into(), T0 + 2 * 86_400_000)]
    );
    e.receive("tee", "wh-1", 5.into(), Note::new("po_receipt", "PO-9"))
        .unwrap();
    let l = e.levels("tee", "wh-1").unwrap();
    assert_eq!((l.on_hand, l.incoming), (6.into(), 3.into()));
    e.cancel_expected("tee", "wh-1", "PO-9").unwrap();
    assert_eq!(e.levels("tee", "wh-1").unwrap().incoming, 0.into());
    assert_eq!(
        e.cancel_expected("tee", "wh-1", "PO-9").unwrap_err().code(),
        "E_INVALID_ARGUMENT"
    );
    assert_ledger_folds(&e);
}

#[test]
fn transfers_move_units_through_transit() {
    let (e, _) = shop();
    receive(&e, "tee", "wh-1", 10);
    let t = e
        .dispatch_transfer("T-1", "tee", "wh-1", "store-2", 4.into())
        .unwrap();
    assert_eq!(t.state, TransferState::InTransit);
    assert_eq!(e.levels("tee", "wh-1").unwrap().on_hand, 6.into());
    assert_eq!(e.levels("tee", "store-2").unwrap().in_transit, 4.into());
    assert_eq!(
        e.dispatch_transfer("T-1", "tee", "wh-1", "store-2", 4.into())
            .unwrap(),
        t,
        "idempotent"
    );
    assert_eq!(
        e.dispatch_transfer("T-1", "tee", "wh-1", "store-2", 5.into())
            .unwrap_err()
            .code(),
        "E_ID_CONFLICT"
    );
    e.receive_transfer("T-1", Some(1.into())).unwrap();
    let err = e.receive_transfer("T-1", Some(9.into())).unwrap_err();
    assert_eq!(
        err,
        Error::ExceedsOpenQuantity {
            kind: IdKind::Transfer,
            id: "T-1".into(),
            sku: "tee".into(),
            requested: 9.into(),
            remaining: 3.into(),
        }
    );
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        (
            "E_EXCEEDS_OPEN_QUANTITY",
            "transfer `T-1` has 3 of `tee` open, 9 requested"
        )
    );
    let t = e.cancel_transfer("T-1").unwrap();
    assert_eq!((t.state, t.received), (TransferState::Cancelled, 1.into()));
    assert_eq!(e.levels("tee", "wh-1").unwrap().on_hand, 9.into());
    let s2 = e.levels("tee", "store-2").unwrap();
    assert_eq!((s2.on_hand, s2.in_transit), (1.into(), 0.into()));
    assert_eq!(
        e.cancel_transfer("T-1").unwrap_err().code(),
        "E_TRANSFER_NOT_OPEN"
    );
    assert_eq!(
        e.dispatch_transfer("T-2", "tee", "wh-1", "store-2", 10.into())
            .unwrap_err()
            .code(),
        "E_INSUFFICIENT_STOCK"
    );
    e.dispatch_transfer("T-3", "tee", "wh-1", "store-2", 9.into())
        .unwrap();
    e.receive_transfer("T-3", None).unwrap();
    assert_eq!(e.levels("tee", "store-2").unwrap().on_hand, 10.into());
    assert_eq!(e.kpis().transfers_received, 1);
    assert_ledger_folds(&e);
}

#[test]
fn channel_availability_applies_buffers_and_caps() {
    let (e, _) = shop();
    receive(&e, "tee", "wh-1", 10);
    receive(&e, "tee", "wh-2", 10);
    assert_eq!(e.availability("web", "tee").unwrap(), 20.into());
    assert_eq!(e.availability("market", "tee").unwrap(), 3.into());
    e.upsert_channel(
        ChannelSpec::new("app", ["wh-1", "wh-2"])
            .safety_units(2)
            .holdback_percent(d("10")),
    )
    .unwrap();
    assert_eq!(e.availability("app", "tee").unwrap(), 16.into());
    e.upsert_channel(ChannelSpec::new("social", ["wh-1", "wh-2"]).cap(Cap::Percent(d("25"))))
        .unwrap();
    assert_eq!(e.availability("social", "tee").unwrap(), 5.into());
    receive(&e, "cap", "wh-1", 1);
    assert_eq!(
        e.availability_many("web", &["tee", "cap"]).unwrap(),
        vec![20.into(), 1.into()]
    );
    let per = e.availability_by_location("web", "tee").unwrap();
    let per: Vec<_> = per
        .iter()
        .map(|p| (p.location.as_str(), p.available))
        .collect();
    assert_eq!(
        per,
        vec![
            ("wh-1", 10.into()),
            ("wh-2", 10.into()),
            ("store-1", 0.into())
        ]
    );
    assert_eq!(
        e.availability("nope", "tee").unwrap_err().code(),
        "E_UNKNOWN_CHANNEL"
    );
    assert_eq!(
        e.availability("web", "nope").unwrap_err().code(),
        "E_UNKNOWN_SKU"
    );
    assert_eq!(
        e.availability_many("web", &["tee", "nope"])
            .unwrap_err()
            .code(),
        "E_UNKNOWN_SKU"
    );
    let err = e
        .upsert_channel(ChannelSpec::new("bad", ["wh-1"]).holdback_percent(d("101")))
        .unwrap_err();
    assert_eq!(err.code(), "E_INVALID_ARGUMENT");
    assert_eq!(
        e.upsert_channel(ChannelSpec::new("bad", ["wh-9"]))
            .unwrap_err()
            .code(),
        "E_UNKNOWN_LOCATION"
    );
}

#[test]
fn a_hold_fills_from_the_channel_locations_in_order() {
    let (e, _) = shop();
    receive(&e, "tee", "wh-1", 2);
    receive(&e, "tee", "wh-2", 5);
    let lines = [HoldLine::new("tee", 4)];
    let r = e
        .hold(&HoldRequest::new("h", "web", &lines, MIN).bind_now())
        .unwrap();
    let parts: Vec<_> = r
        .parts
        .iter()
        .map(|p| (e.location_name(p.location.unwrap()), p.qty))
        .collect();
    assert_eq!(
        parts,
        vec![
            ("wh-1".to_string(), 2.into()),
            ("wh-2".to_string(), 2.into())
        ]
    );
    assert_eq!(r.expires_at_ms, T0 + MIN);
    assert!(!r.replayed);
    assert_eq!(e.availability("web", "tee").unwrap(), 3.into());
    assert_ledger_folds(&e);
}

#[test]
fn holds_are_all_or_nothing() {
    let (e, _) = shop();
    receive(&e, "a", "wh-1", 5);
    receive(&e, "b", "wh-1", 1);
    let lines = [HoldLine::new("a", 3), HoldLine::new("b", 2)];
    let err = e
        .hold(&HoldRequest::new("h", "web", &lines, MIN))
        .unwrap_err();
    match err {
        Error::InsufficientStock {
            sku,
            requested,
            available,
            channel,
            ..
        } => {
            assert_eq!(
                (sku.as_str(), requested, available, channel.as_deref()),
                ("b", 2.into(), 1.into(), Some("web"))
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.levels("a", "wh-1").unwrap().reserved,
        0.into(),
        "line a rolled back"
    );
    assert_eq!(e.hold_info("h").unwrap_err().code(), "E_UNKNOWN_HOLD");
    assert_eq!(e.kpis().holds_refused, 1);
    assert_ledger_folds(&e);
}

#[test]
fn same_sku_twice_in_one_hold_is_checked_against_the_sum() {
    let (e, _) = shop();
    receive(&e, "a", "wh-1", 3);
    let lines = [HoldLine::new("a", 2), HoldLine::new("a", 2)];
    assert_eq!(
        e.hold(&HoldRequest::new("h", "web", &lines, MIN))
            .unwrap_err()
            .code(),
        "E_INSUFFICIENT_STOCK"
    );
    assert_eq!(e.levels("a", "wh-1").unwrap().reserved, 0.into());
}

#[test]
fn hold_ids_are_idempotent() {
    let (e, _) = shop();
    receive(&e, "a", "wh-1", 5);
    let lines = [HoldLine::new("a", 2)];
    let first = e
        .hold(&HoldRequest::new("h", "web", &lines, MIN).bind_now())
        .unwrap();
    let again = e
        .hold(&HoldRequest::new("h", "web", &lines, 5 * MIN).bind_now())
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.parts, first.parts);
    assert_eq!(
        e.levels("a", "wh-1").unwrap().reserved,
        2.into(),
        "applied once"
    );
    let other = [HoldLine::new("a", 3)];
    let err = e
        .hold(&HoldRequest::new("h", "web", &other, MIN))
        .unwrap_err();
    assert_eq!(
        err,
        Error::IdConflict {
            kind: IdKind::Hold,
            id: "h".into()
        }
    );
    assert_eq!(
        e.hold(&HoldRequest::new("h", "market", &lines, MIN))
            .unwrap_err()
            .code(),
        "E_ID_CONFLICT"
    );
    // A retry after the hold ended still returns the original result; the
    // same lines held against the pool are other content.
    e.release("h").unwrap();
    assert!(
        e.hold(&HoldRequest::new("h", "web", &lines, MIN).bind_now())
            .unwrap()
            .replayed
    );
    assert_eq!(
        e.hold(&HoldRequest::new("h", "web", &lines, MIN))
            .unwrap_err()
            .code(),
        "E_ID_CONFLICT"
    );
    assert_eq!(e.levels("a", "wh-1").unwrap().reserved, 0.into());
    assert_eq!(e.kpis().holds_created, 1);
}

#[test]
fn pinned_lines_check_eligibility_closure_and_location_stock() {
    let (e, _) = shop();
    receive(&e, "a", "wh-1", 5);
    receive(&e, "a", "store-2", 5);
    let at = |loc| [HoldLine::new("a", 1).at(loc)];
    let l = at("store-2");
    assert_eq!(
        e.hold(&HoldRequest::new("h1", "web", &l, MIN))
            .unwrap_err()
            .code(),
        "E_LOCATION_NOT_IN_CHANNEL"
    );
    let l = at("store-1");
    let err = e.hold(&HoldRequest::new("h2", "web", &l, MIN)).unwrap_err();
    assert!(
        matches!(&err, Error::InsufficientStock { location: Some(loc), .. } if loc == "store-1"),
        "{err:?}"
    );
    e.set_location_closed("wh-1", true).unwrap();
    let l = at("wh-1");
    assert_eq!(
        e.hold(&HoldRequest::new("h3", "web", &l, MIN))
            .unwrap_err()
            .code(),
        "E_LOCATION_CLOSED"
    );
    assert_eq!(
        e.availability("web", "a").unwrap(),
        0.into(),
        "closed locations drop out"
    );
    e.set_location_closed("wh-1", false).unwrap();
    e.hold(&HoldRequest::new("h4", "web", &l, MIN)).unwrap();
    e.remove_location_from_channel("web", "wh-1").unwrap();
    assert_eq!(e.availability("web", "a").unwrap(), 0.into());
    assert_eq!(
        e.hold(&HoldRequest::new("h5", "web", &l, MIN))
            .unwrap_err()
            .code(),
        "E_LOCATION_NOT_IN_CHANNEL"
    );
    e.commit("h4", "o4").unwrap();
}

#[test]
fn hold_input_errors_follow_the_documented_precedence() {
    let (e, _) = shop();
    receive(&e, "a", "wh-1", 5);
    let good = [HoldLine::new("a", 1)];
    let code = |id, ch, lines: &[HoldLine<'_>], ttl| {
        e.hold(&HoldRequest::new(id, ch, lines, ttl))
            .unwrap_err()
            .code()
    };
    assert_eq!(
        code("", "nope", &[HoldLine::new("zz", 0)], 0),
        "E_INVALID_ARGUMENT"
    );
    assert_eq!(code("h", "web", &good, 0), "E_INVALID_ARGUMENT");
    assert_eq!(code("h", "web", &good, u64::MAX), "E_INVALID_ARGUMENT");
    assert_eq!(code("h", "web", &[], MIN), "E_INVALID_ARGUMENT");
    assert_eq!(
        code("h", "nope", &[HoldLine::new("zz", 0)], MIN),
        "E_UNKNOWN_CHANNEL"
    );
    assert_eq!(
        code("h", "web", &[HoldLine::new("zz", 0)], MIN),
        "E_UNKNOWN_SKU"
    );
    assert_eq!(
        code("h", "web", &[HoldLine::new("a", 0).at("nowhere")], MIN),
        "E_UNKNOWN_LOCATION"
    );
    assert_eq!(
        code("h", "web", &[HoldLine::new("a", -3)], MIN),
        "E_INVALID_QUANTITY"
    );
    assert_eq!(
        code("h", "web", &[HoldLine::new("a", 6)], MIN),
        "E_INSUFFICIENT_STOCK"
    );
    assert_eq!(
        e.last_seq(),
        9,
        "topology (7) + SKU declared + receipt; nothing from refused holds"
    );
}

#[test]
fn expiry_frees_stock_even_before_a_sweep() {
    let (e, clock) = shop();
    receive(&e, "a", "wh-1", 1);
    let lines = [HoldLine::new("a", 1)];
    e.hold(&HoldRequest::new("h", "web", &lines, MIN)).unwrap();
    assert_eq!(
        e.hold(&HoldRequest::new("h2", "web", &lines, MIN))
            .unwrap_err()
            .code(),
        "E_INSUFFICIENT_STOCK"
    );
    clock.advance(MIN);
    assert_eq!(
        e.availability("web", "a").unwrap(),
        1.into(),
        "due hold no longer blocks"
    );
    assert_eq!(e.hold_info("h").unwrap().state, HoldState::Expired);
    assert_eq!(e.hold_info("h").unwrap().ended_at_ms, Some(T0 + MIN));
    e.hold(&HoldRequest::new("h2", "web", &lines, MIN)).unwrap();
    let err = e.commit("h", "o").unwrap_err();
    assert_eq!(
        err,
        Error::HoldNotActive {
            hold: "h".into(),
            state: HoldState::Expired
        }
    );
    assert_eq!(e.kpis().holds_expired, 1);
    assert_ledger_folds(&e);
}

#[test]
fn expire_due_sweeps_and_reports_and_purges_after_retention() {
    let clock = Arc::new(ManualClock::new(T0));
    let e = Engine::with_config(Config {
        hold_retention_ms: 10 * MIN,
        ..Config::with_clock(clock.clone())
    });
    e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["wh"])).unwrap();
    receive(&e, "a", "wh", 10);
    for i in 0..5 {
        let lines = [HoldLine::new("a", 1)];
        e.hold(&HoldRequest::new(&format!("h{i}"), "web", &lines, (i + 1) * MIN).bind_now())
            .unwrap();
    }
    assert_eq!(e.expire_due(T0 + 3 * MIN), 3);
    assert_eq!(e.expire_due(T0 + 3 * MIN), 0, "each hold ends once");
    assert_eq!(e.levels("a", "wh").unwrap().reserved, 2.into());
    clock.set(T0 + 20 * MIN);
    assert_eq!(e.availability("web", "a").unwrap(), 10.into());
    assert_eq!(
        e.hold_info("h0").unwrap_err().code(),
        "E_UNKNOWN_HOLD",
        "purged after retention"
    );
}

#[test]
fn extend_moves_the_expiry() {
    let (e, clock) = shop();
    receive(&e, "a", "wh-1", 1);
    let lines = [HoldLine::new("a", 1)];
    e.hold(&HoldRequest::new("h", "web", &lines, MIN)).unwrap();
    clock.advance(MIN / 2);
    assert_eq!(e.extend_hold("h", 2 * MIN).unwrap(), T0 + MIN / 2 + 2 * MIN);
    clock.advance(MIN);
    assert_eq!(
        e.hold_info("h").unwrap().state,
        HoldState::Active,
        "old expiry passed, hold lives on"
    );
    clock.advance(2 * MIN);
    assert_eq!(
        e.extend_hold("h", MIN).unwrap_err().code(),
        "E_HOLD_NOT_ACTIVE"
    );
    assert_eq!(
        e.extend_hold("zz", MIN).unwrap_err().code(),
        "E_UNKNOWN_HOLD"
    );
}

#[test]
fn release_and_its_errors() {
    let (e, _) = shop();
    receive(&e, "a", "wh-1", 2);
    let lines = [HoldLine::new("a", 2)];
    e.hold(&HoldRequest::new("h", "web", &lines, MIN)).unwrap();
    e.release("h").unwrap();
    e.release("h").unwrap();
    assert_eq!(e.availability("web", "a").unwrap(), 2.into());
    assert_eq!(e.release("nope").unwrap_err().code(), "E_UNKNOWN_HOLD");
    e.hold(&HoldRequest::new("h2", "web", &lines, MIN)).unwrap();
    e.commit("h2", "o2").unwrap();
    assert_eq!(
        e.release("h2").unwrap_err(),
        Error::HoldNotActive {
            hold: "h2".into(),
            state: HoldState::Committed
        }
    );
    assert_eq!(e.kpis().holds_released, 1);
}

#[test]
fn commit_fulfil_cancel_lifecycle() {
    let (e, _) = shop();
    receive(&e, "a", "wh-1", 3);
    receive(&e, "a", "wh-2", 3);
    let lines = [HoldLine::new("a", 5)];
    e.hold(&HoldRequest::new("h", "web", &lines, MIN)).unwrap();
    let r = e.commit("h", "o").unwrap();
    assert_eq!(r.allocations.len(), 2);
    assert!(e.commit("h", "o").unwrap().replayed);
    assert_eq!(
        e.commit("h", "o-other").unwrap_err().code(),
        "E_ID_CONFLICT"
    );
    let l1 = e.levels("a", "wh-1").unwrap();
    assert_eq!((l1.reserved, l1.allocated), (0.into(), 3.into()));
    e.fulfil("o", &[OrderLine::new("a", 1).at("wh-2")]).unwrap();
    assert_eq!(e.levels("a", "wh-2").unwrap().on_hand, 2.into());
    let err = e.fulfil("o", &[OrderLine::new("a", 5)]).unwrap_err();
    assert!(
        matches!(&err, Error::ExceedsOpenQuantity { remaining, .. } if *remaining == Qty::units(4)),
        "{err:?}"
    );
    let v = e.cancel("o", &[OrderLine::new("a", 2)]).unwrap();
    assert_eq!(v.state, OrderState::Open);
    assert_eq!(e.levels("a", "wh-1").unwrap().available, 2.into());
    let v = e.cancel_order("o").unwrap();
    assert_eq!(v.state, OrderState::Completed);
    assert_eq!(v.hold.as_deref(), Some("h"));
    assert_eq!(e.availability("web", "a").unwrap(), 5.into());
    assert_eq!(
        e.fulfil("nope", &[OrderLine::new("a", 1)])
            .unwrap_err()
            .code(),
        "E_UNKNOWN_ORDER"
    );
    // an order id cannot be reused by another hold
    e.hold(&HoldRequest::new(
        "h2",
        "web",
        &[HoldLine::new("a", 1)],
        MIN,
    ))
    .unwrap();
    assert_eq!(
        e.commit("h2", "o").unwrap_err(),
        Error::IdConflict {
            kind: IdKind::Order,
            id: "o".into()
        }
    );
    assert_eq!(e.hold_info("h2").unwrap().state, HoldState::Active);
    assert_ledger_folds(&e);
}

#[test]
fn till_sale_sells_from_the_store_at_once() {
    let (e, _) = shop();
    receive(&e, "a", "store-1", 2);
    let lines = [HoldLine::new("a", 2)];
    let r = e.till_sale("sale-1", "till:store-1", &lines).unwrap();
    assert_eq!(
        e.location_name(r.allocations[0].location.unwrap()),
        "store-1"
    );
    assert!(
        e.till_sale("sale-1", "till:store-1", &lines)
            .unwrap()
            .replayed
    );
    assert_eq!(e.levels("a", "store-1").unwrap().on_hand, 0.into());
    let one = [HoldLine::new("a", 1)];
    assert_eq!(
        e.till_sale("sale-1", "till:store-1", &one)
            .unwrap_err()
            .code(),
        "E_ID_CONFLICT"
    );
    assert_eq!(
        e.till_sale("sale-2", "till:store-1", &one)
            .unwrap_err()
            .code(),
        "E_INSUFFICIENT_STOCK"
    );
    let k = e.kpis();
    assert_eq!(
        (k.till_sales, k.till_sales_refused, k.oversells_prevented()),
        (1, 1, 1)
    );
    assert_eq!(e.order_info("sale-1").unwrap().state, OrderState::Completed);
    // A till whose store is closed says so.
    receive(&e, "a", "store-1", 1);
    e.set_location_closed("store-1", true).unwrap();
    let seq = e.last_seq();
    assert_eq!(
        e.till_sale("sale-3", "till:store-1", &one).unwrap_err(),
        Error::LocationClosed {
            location: "store-1".into()
        }
    );
    assert_eq!(e.last_seq(), seq);
    assert_ledger_folds(&e);
}

#[test]
fn subscribers_see_stock_and_channel_changes_and_may_call_back() {
    let (e, _) = shop();
    let e = Arc::new(e);
    receive(&e, "a", "wh-1", 1);
    let seen: Arc<Mutex<Vec<Change>>> = Arc::default();
    let (seen2, e2) = (seen.clone(), Arc::downgrade(&e));
    let sub = e.subscribe(move |changes| {
        seen2.lock().unwrap().extend_from_slice(changes);
        // Re-entrant call: would deadlock if a lock were held.
        if let Some(e) = e2.upgrade() {
            e.availability("web", "a").unwrap();
        }
    });
    let lines = [HoldLine::new("a", 1)];
    e.hold(&HoldRequest::new("h", "web", &lines, MIN).bind_now())
        .unwrap();
    e.release("h").unwrap();
    let got = seen.lock().unwrap().clone();
    assert!(
        got.iter()
            .any(|c| matches!(c, Change::OutOfStock { channel, .. } if channel == "web")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|c| matches!(c, Change::BackInStock { channel, .. } if channel == "web"))
    );
    assert!(got.iter().any(
        |c| matches!(c, Change::AvailabilityChanged { channel, before, after, .. }
        if channel == "market" && *before == Qty::units(1) && *after == Qty::ZERO)
    ));
    assert!(
        got.iter()
            .any(|c| matches!(c, Change::StockChanged { location, .. } if location == "wh-1"))
    );
    // The flat accessors the bindings build their records from.
    for c in &got {
        assert_eq!(c.sku(), "a");
        match c {
            Change::StockChanged {
                seq,
                location,
                levels,
                ..
            } => {
                assert_eq!(
                    (c.kind(), c.seq(), c.location(), c.channel()),
                    ("stock_changed", *seq, Some(location.as_str()), None)
                );
                assert_eq!(c.levels(), Some(*levels));
            }
            Change::AvailabilityChanged {
                channel,
                before,
                after,
                ..
            } => {
                assert_eq!(
                    (c.kind(), c.channel(), c.before_after()),
                    (
                        "availability_changed",
                        Some(channel.as_str()),
                        Some((*before, *after))
                    )
                );
            }
            Change::OutOfStock { channel, .. } => assert_eq!(
                (c.kind(), c.channel(), c.levels()),
                ("out_of_stock", Some(channel.as_str()), None)
            ),
            Change::BackInStock { channel, .. } => assert_eq!(
                (c.kind(), c.channel(), c.before_after()),
                ("back_in_stock", Some(channel.as_str()), None)
            ),
        }
    }
    assert!(e.unsubscribe(sub));
    receive(&e, "a", "wh-1", 1);
    assert_eq!(
        seen.lock().unwrap().len(),
        got.len(),
        "no delivery after unsubscribe"
    );
}

/// A subscriber that panics is isolated: the change it was told of stands,
/// the caller gets its result, the other subscribers still hear of it, and
/// later changes still reach the one that panicked. A ledger batch it
/// panicked on counts as delivered (documented).
#[test]
fn a_panicking_subscriber_does_not_undo_the_change_or_stop_the_feed() {
    let (e, _) = shop();
    let calls = Arc::new(AtomicUsize::new(0));
    let heard = Arc::new(AtomicUsize::new(0));
    let entries: Arc<Mutex<Vec<u64>>> = Arc::default();
    let c = calls.clone();
    e.subscribe(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        panic!("a subscriber's bug");
    });
    let (c, seen) = (calls.clone(), entries.clone());
    e.subscribe_from(e.last_seq(), move |batch| {
        c.fetch_add(1, Ordering::SeqCst);
        seen.lock().unwrap().extend(batch.iter().map(|x| x.seq));
        panic!("a ledger subscriber's bug");
    })
    .unwrap();
    let h = heard.clone();
    e.subscribe(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
    });
    let start = e.last_seq();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // the two bugs are expected
    let first = e.receive("a", "wh-1", Qty::units(2), Note::default());
    let second = e.receive("a", "wh-1", Qty::units(3), Note::default());
    std::panic::set_hook(hook);
    assert_eq!(first.unwrap().on_hand, Qty::units(2));
    assert_eq!(second.unwrap().on_hand, Qty::units(5));
    assert_eq!(e.levels("a", "wh-1").unwrap().on_hand, Qty::units(5));
    assert_eq!(calls.load(Ordering::SeqCst), 4, "both heard both changes");
    assert_eq!(heard.load(Ordering::SeqCst), 2);
    let all: Vec<u64> = (start + 1..=e.last_seq()).collect();
    assert_eq!(*entries.lock().unwrap(), all);
    assert_ledger_folds(&e);
}

#[test]
fn ledger_reads_from_a_sequence_number_and_reports_truncation() {
    let clock = Arc::new(ManualClock::new(T0));
    let e = Engine::with_config(Config {
        ledger_retention: Some(5),
        ..Config::with_clock(clock)
    });
    e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
    // Retention keeps at least the newest 5 and drops older ones in chunks.
    for _ in 0..300 {
        receive(&e, "a", "wh", 1);
    }
    let last = e.last_seq();
    let tail = e.events_since(last - 3, 100).unwrap();
    assert_eq!(
        tail.iter().map(|x| x.seq).collect::<Vec<_>>(),
        vec![last - 2, last - 1, last]
    );
    assert_eq!(tail[0].reference, "PO-test");
    assert_eq!(tail[0].reason, "po_receipt");
    assert_eq!(e.events_since(last - 3, 1).unwrap().len(), 1);
    assert_eq!(
        e.events_since(0, 100).unwrap_err().code(),
        "E_LEDGER_TRUNCATED"
    );
}

/// Retention bounds the whole ledger, not each slice of it: a SKU's
/// stripe that goes quiet after its busy spell, and a catalogue import,
/// leave nothing past the retention once `expire_due` or `bulk_load` ran.
#[test]
fn ledger_retention_bounds_quiet_stripes_and_catalogue_imports() {
    const KEEP: usize = 1000;
    const CHUNK: usize = 128; // a slice's allocation unit
    let clock = Arc::new(ManualClock::new(T0));
    let e = Engine::with_config(Config {
        ledger_retention: Some(KEEP as u64),
        stripes: 4,
        ..Config::with_clock(clock)
    });
    e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
    // Four SKUs on four stripes (ids 0..3), busy one after the other.
    for sku in ["a", "b", "c", "d"] {
        for _ in 0..5 * KEEP {
            receive(&e, sku, "wh", 1);
        }
    }
    // The window, plus per slice (4 stripes and the meta-log) a chunk
    // straddling each end of it.
    let bound = KEEP + 2 * 5 * CHUNK;
    assert!(
        e.ledger_capacity() > 3 * KEEP,
        "each quiet stripe still holds its own window before a sweep: {}",
        e.ledger_capacity()
    );
    e.expire_due(T0);
    assert!(
        e.ledger_capacity() <= bound,
        "{} events kept for a retention of {KEEP}",
        e.ledger_capacity()
    );
    let last = e.last_seq();
    assert_eq!(
        e.events_since(last - KEEP as u64, usize::MAX)
            .unwrap()
            .len(),
        KEEP,
        "the retention window stays readable"
    );
    // A catalogue import: many SKU declarations, then one location loaded.
    let names: Vec<String> = (0..4 * KEEP).map(|i| format!("s{i}")).collect();
    for n in &names {
        e.declare_sku(n, SkuSpec::default()).unwrap();
    }
    let records: Vec<LoadRecord<'_>> = (0..2 * KEEP)
        .map(|_| LoadRecord {
            sku: "a",
            location: "wh",
            qty: 1.into(),
        })
        .collect();
    e.bulk_load(&records, Note::default(), &mut |_, _| {})
        .unwrap();
    assert!(
        e.ledger_capacity() <= bound,
        "{} events kept after the import",
        e.ledger_capacity()
    );
}

#[test]
fn snapshot_restore_round_trips_exactly() {
    let (e, clock) = shop();
    e.declare_sku("rope", SkuSpec { unit_scale: 3 }).unwrap();
    e.receive("rope", "wh-2", d("5.125").into(), Note::default())
        .unwrap();
    receive(&e, "a", "wh-1", 5);
    receive(&e, "a", "store-1", 5);
    e.hold(&HoldRequest::new(
        "h1",
        "web",
        &[HoldLine::new("a", 2)],
        MIN,
    ))
    .unwrap();
    e.hold(&HoldRequest::new(
        "h2",
        "web",
        &[HoldLine::new("a", 1)],
        3 * MIN,
    ))
    .unwrap();
    e.commit("h2", "o2").unwrap();
    e.till_sale("s1", "till:store-1", &[HoldLine::new("a", 1)])
        .unwrap();
    e.dispatch_transfer("t1", "a", "wh-1", "store-2", 1.into())
        .unwrap();
    e.mark_unsellable(
        "a",
        "store-1",
        1.into(),
        Condition::Damaged,
        Note::default(),
    )
    .unwrap();
    e.set_safety("a", "store-1", 2.into(), Note::default())
        .unwrap();

    let snap = e.snapshot();
    let json = serde_json::to_string(&snap).unwrap();
    // Safety and unsellable units share one hot level inside; snapshots
    // keep writing them apart (one format).
    assert!(json.contains(r#""safety":2,"unsellable":1}"#), "{json}");
    // A snapshot of format 1 (its hold digests made another way) is
    // refused, not restored with retries that would read as conflicts.
    assert!(json.starts_with(r#"{"format":4,"#), "{json}");
    let old: Snapshot =
        serde_json::from_str(&json.replacen(r#""format":4"#, r#""format":1"#, 1)).unwrap();
    assert_eq!(
        Engine::restore(old, Config::default()).unwrap_err(),
        Error::InvalidArgument {
            field: "snapshot",
            reason: "format 1 is not supported".into()
        }
    );
    // Format 2 had no `observed` (reconciliations' times) and format 3 no
    // `reservations` (click & reserve times): they restore as having none.
    assert!(
        json.ends_with(r#","observed":[],"reservations":[]}"#),
        "{json}"
    );
    let three = json
        .replacen(r#""format":4"#, r#""format":3"#, 1)
        .replace(r#","reservations":[]}"#, "}");
    let two = three
        .replacen(r#""format":3"#, r#""format":2"#, 1)
        .replace(r#","observed":[]}"#, "}");
    for old in [three, two] {
        let old: Snapshot = serde_json::from_str(&old).unwrap();
        assert_eq!(
            Engine::restore(old, Config::default()).unwrap().snapshot(),
            snap
        );
    }
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);
    let r = Engine::restore(
        back,
        Config {
            ledger_retention: None,
            ..Config::with_clock(clock.clone())
        },
    )
    .unwrap();
    assert_eq!(r.snapshot(), snap);
    assert_ledger_folds(&r);
    assert_eq!(r.levels_as_folded(), e.levels_as_folded());
    assert_eq!(r.kpis(), e.kpis());
    let l = r.levels("a", "store-1").unwrap();
    assert_eq!(
        (l.safety, l.damaged, l.unsellable),
        (2.into(), 1.into(), 1.into())
    );
    assert_eq!(l, e.levels("a", "store-1").unwrap());
    // The restored engine carries on: idempotency, expiry and sequence.
    assert!(
        r.hold(&HoldRequest::new(
            "h1",
            "web",
            &[HoldLine::new("a", 2)],
            MIN
        ))
        .unwrap()
        .replayed
    );
    clock.advance(MIN);
    assert_eq!(r.hold_info("h1").unwrap().state, HoldState::Expired);
    assert!(r.last_seq() > snap.seq());
}

/// Closed orders (till sales, fulfilled or cancelled orders) are kept for
/// the retention window, so retries stay idempotent, then purged; open
/// orders are kept however old.
#[test]
fn closed_orders_are_purged_after_their_retention_and_open_ones_stay() {
    let clock = Arc::new(ManualClock::new(T0));
    let e = Engine::with_config(Config {
        order_retention_ms: 10 * MIN,
        ..Config::with_clock(clock.clone())
    });
    e.upsert_location(LocationSpec::store("st")).unwrap();
    e.upsert_channel(ChannelSpec::new("till", ["st"])).unwrap();
    e.upsert_channel(ChannelSpec::new("web", ["st"])).unwrap();
    receive(&e, "a", "st", 10);
    let one = [HoldLine::new("a", 1)];
    // A till sale closes at once.
    e.till_sale("sale", "till", &one).unwrap();
    // An order committed from a hold stays open until it is settled.
    e.hold(&HoldRequest::new("h", "web", &one, 5 * MIN).bind_now())
        .unwrap();
    e.commit("h", "o").unwrap();

    clock.set(T0 + 10 * MIN - 1);
    assert!(e.till_sale("sale", "till", &one).unwrap().replayed);
    assert_eq!(e.order_info("sale").unwrap().state, OrderState::Completed);
    clock.set(T0 + 10 * MIN);
    assert_eq!(e.order_info("sale").unwrap_err().code(), "E_UNKNOWN_ORDER");
    assert!(
        !e.till_sale("sale", "till", &one).unwrap().replayed,
        "the id is free again: a new sale"
    );
    assert_eq!(e.levels("a", "st").unwrap().on_hand, 8.into());

    clock.set(T0 + 3 * 24 * 60 * MIN);
    assert_eq!(e.order_info("o").unwrap().state, OrderState::Open);
    let t = clock.now_ms();
    e.fulfil("o", &[OrderLine::new("a", 1)]).unwrap();
    clock.set(t + 10 * MIN - 1);
    assert_eq!(e.order_info("o").unwrap().state, OrderState::Completed);
    // The sweep (any operation, or `expire_due`) purges it on time.
    clock.set(t + 10 * MIN);
    e.expire_due(t + 10 * MIN);
    assert_eq!(e.order_info("o").unwrap_err().code(), "E_UNKNOWN_ORDER");
    assert_ledger_folds(&e);
}

/// Ended transfers (received in full, or cancelled) are kept for the
/// retention window, so a retried dispatch returns them, then purged and
/// their ids free again; transfers in transit are kept however old.
#[test]
fn ended_transfers_are_purged_after_their_retention_and_open_ones_stay() {
    let clock = Arc::new(ManualClock::new(T0));
    let e = Engine::with_config(Config {
        transfer_retention_ms: 10 * MIN,
        ..Config::with_clock(clock.clone())
    });
    e.upsert_location(LocationSpec::warehouse("wh")).unwrap();
    e.upsert_location(LocationSpec::store("st")).unwrap();
    receive(&e, "a", "wh", 10);
    let dispatch = |id: &str| e.dispatch_transfer(id, "a", "wh", "st", 2.into());
    dispatch("t-received").unwrap();
    dispatch("t-cancelled").unwrap();
    dispatch("t-open").unwrap();
    clock.set(T0 + MIN);
    e.receive_transfer("t-received", Some(1.into())).unwrap();
    clock.set(T0 + 2 * MIN);
    e.receive_transfer("t-received", None).unwrap();
    e.cancel_transfer("t-cancelled").unwrap();

    clock.set(T0 + 12 * MIN - 1);
    assert_eq!(
        dispatch("t-received").unwrap().state,
        TransferState::Received
    );
    assert_eq!(
        e.transfer_info("t-cancelled").unwrap().state,
        TransferState::Cancelled
    );
    clock.set(T0 + 12 * MIN);
    for id in ["t-received", "t-cancelled"] {
        assert_eq!(
            e.transfer_info(id).unwrap_err().code(),
            "E_UNKNOWN_TRANSFER",
            "{id}"
        );
    }
    // The ids are free again: a new dispatch.
    assert_eq!(
        dispatch("t-received").unwrap().state,
        TransferState::InTransit
    );
    clock.set(T0 + 3 * 24 * 60 * MIN);
    assert_eq!(
        e.transfer_info("t-open").unwrap().state,
        TransferState::InTransit
    );
    let l = e.levels("a", "wh").unwrap();
    assert_eq!(
        (l.on_hand, e.levels("a", "st").unwrap().in_transit),
        (4.into(), 4.into())
    );
    assert_ledger_folds(&e);
}

/// The events of a hold's lines share one note (packed once): each carries
/// the hold's id, short or past the 23 bytes stored inline, at a location
/// or on the pool, when held and when released.
#[test]
fn every_line_of_a_hold_carries_the_hold_id_in_the_ledger() {
    let (e, _) = shop();
    for s in ["a", "b", "c"] {
        receive(&e, s, "wh-1", 10);
    }
    for id in ["h1", "a-cart-id-longer-than-twenty-three-bytes"] {
        let from = e.last_seq();
        let lines = [
            HoldLine::new("a", 1),
            HoldLine::new("b", 2).at("wh-1"),
            HoldLine::new("c", 3),
        ];
        e.hold(&HoldRequest::new(id, "web", &lines, 60_000))
            .unwrap();
        e.release(id).unwrap();
        let events = e.events_since(from, 100).unwrap();
        let kinds: Vec<_> = events.iter().map(|x| x.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::PoolReserved,
                EventKind::Reserved,
                EventKind::PoolReserved,
                EventKind::PoolReleased,
                EventKind::Released,
                EventKind::PoolReleased,
            ]
        );
        for x in &events {
            assert_eq!(x.reference, id, "{x:?}");
        }
    }
}

/// Committing a hold and settling the order: every part's events carry the
/// order's id (one packed note per transaction), short or long.
#[test]
fn every_part_of_an_order_carries_the_order_id_in_the_ledger() {
    let (e, _) = shop();
    for s in ["a", "b"] {
        receive(&e, s, "wh-1", 10);
    }
    for (hold, order) in [
        ("h1", "o1"),
        ("h2", "an-order-id-longer-than-twenty-three-bytes"),
    ] {
        let lines = [HoldLine::new("a", 1), HoldLine::new("b", 2).at("wh-1")];
        e.hold(&HoldRequest::new(hold, "web", &lines, 60_000))
            .unwrap();
        let from = e.last_seq();
        e.commit(hold, order).unwrap();
        let settled = e.last_seq();
        e.fulfil(order, &[OrderLine::new("a", 1).at("wh-1")])
            .unwrap();
        e.cancel(order, &[OrderLine::new("b", 2).at("wh-1")])
            .unwrap();
        let events = e.events_since(from, 100).unwrap();
        assert!(events.len() >= 5, "{events:?}");
        assert!(events.iter().any(|x| x.seq > settled));
        for x in &events {
            assert_eq!(x.reference, order, "{x:?}");
        }
    }
}
