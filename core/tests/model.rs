//! Model-based test: random sequences of operations run against the engine
//! and against a plain reference model; every result and the whole state
//! must agree after every step, and the ledger must fold to the state.
//!
//! `PROPTEST_CASES` sets the number of sequences (CI runs the default; the
//! long run is `scripts/model-long.sh`).

mod common;

use common::refmodel::*;
use proptest::prelude::*;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use std::sync::Arc;
use unistock::*;

/// Hold and order ids in play: few, so that ids are retried and reused.
const HOLDS: usize = 4;
const ORDERS: usize = 4;

fn qty() -> impl Strategy<Value = i64> {
    prop_oneof![6 => 1i64..=4, 2 => Just(0i64), 1 => Just(-1i64), 1 => Just(HUGE), 2 => 5i64..=12]
}

struct RefMachine;

impl ReferenceStateMachine for RefMachine {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            now: common::T0,
            ..Model::default()
        })
        .boxed()
    }

    fn transitions(_: &Model) -> BoxedStrategy<Op> {
        let sku = 0..SKUS.len();
        let loc = 0..LOCS.len();
        let line = (
            0..SKUS.len(),
            qty(),
            prop::option::weighted(0.3, 0..LOCS.len()),
        );
        prop_oneof![
            4 => (sku.clone(), loc.clone(), qty()).prop_map(|(s, l, q)| Op::Receive(s, l, q)),
            1 => (sku.clone(), loc.clone(), prop_oneof![0i64..=6, Just(-1)]).prop_map(|(s, l, q)| Op::Count(s, l, q)),
            1 => (sku.clone(), loc.clone(), qty()).prop_map(|(s, l, q)| Op::WriteOff(s, l, q)),
            6 => (0..HOLDS, 0usize..2, prop::collection::vec(line, 1..=3), prop_oneof![1 => Just(0u64), 8 => Just(60_000u64), 4 => Just(1_000u64)])
                .prop_map(|(id, chan, lines, ttl)| Op::Hold { id, chan, lines, ttl }),
            2 => (0..HOLDS).prop_map(Op::Release),
            3 => (0..HOLDS, 0..ORDERS).prop_map(|(h, o)| Op::Commit(h, o)),
            2 => (0..ORDERS, sku.clone(), qty()).prop_map(|(o, s, q)| Op::Fulfil(o, s, q)),
            1 => (0..ORDERS, sku.clone(), qty()).prop_map(|(o, s, q)| Op::Cancel(o, s, q)),
            2 => (0..ORDERS, sku, qty()).prop_map(|(o, s, q)| Op::TillSale(o, s, q)),
            2 => prop_oneof![Just(500u64), Just(1_000u64), Just(30_000u64), Just(60_000u64)].prop_map(Op::Advance),
            1 => prop_oneof![Just(500u64), Just(30_000u64)].prop_map(Op::Rewind),
            1 => Just(Op::SnapshotRestore),
        ]
        .boxed()
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        let out = state.apply(op);
        state.last = Some(out);
        state
    }
}

struct Sut {
    engine: Engine,
    clock: Arc<ManualClock>,
}

impl Sut {
    fn run(&mut self, op: &Op) -> Outcome {
        run(&mut self.engine, &self.clock, op)
    }
}

struct EngineVsModel;

impl StateMachineTest for EngineVsModel {
    type SystemUnderTest = Sut;
    type Reference = RefMachine;

    fn init_test(model: &Model) -> Sut {
        let clock = Arc::new(ManualClock::new(model.now));
        let engine = Engine::with_config(config(&clock));
        setup(&engine);
        Sut { engine, clock }
    }

    fn apply(mut sut: Sut, model: &Model, op: Op) -> Sut {
        let got = sut.run(&op);
        assert_eq!(Some(&got), model.last.as_ref(), "result of {op:?}");
        assert_state(&sut.engine, model, &op);
        sut
    }

    fn check_invariants(sut: &Sut, _: &Model) {
        common::assert_ledger_folds(&sut.engine);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig { failure_persistence: None, .. ProptestConfig::default() })]
    #[test]
    fn engine_matches_the_reference_model(sequential 1..48 => EngineVsModel);
}
