//! `cargo run --release -p unistock-examples --bin omnichannel_day [customers] [threads]`

use unistock_examples::run_day;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>().expect("numbers: customers threads"));
    let customers = args.next().unwrap_or(20_000);
    let threads = args.next().unwrap_or(4);
    let t = std::time::Instant::now();
    let day = run_day(customers, threads, 200).expect("the day runs");
    let elapsed = t.elapsed();

    println!("== unistock: an omnichannel day ==");
    println!("{customers} customers on {threads} threads in {elapsed:.2?}\n");
    println!(
        "{:<28} {:>10} {:>10}",
        "channel availability", "morning", "evening"
    );
    for (channel, before) in &day.availability_before {
        println!(
            "{:<28} {:>10} {:>10}",
            channel, before, day.availability_after[channel]
        );
    }
    let k = &day.kpis;
    println!("\nKPIs");
    println!(
        "  holds created / committed / released / expired: {} / {} / {} / {}",
        k.holds_created, k.holds_committed, k.holds_released, k.holds_expired
    );
    println!(
        "  hold conversion: {:.1}%",
        100.0 * k.hold_conversion().unwrap_or(0.0)
    );
    println!(
        "  oversells prevented (refused for lack of stock): {}",
        k.oversells_prevented()
    );
    println!("  till sales: {}", k.till_sales);
    println!(
        "  transfers dispatched / received: {} / {}",
        k.transfers_dispatched, k.transfers_received
    );
    println!(
        "  orders routed and placed / refused / split / re-routed: {} / {} / {} / {}",
        k.orders_placed, k.orders_refused, k.orders_split, k.reroutes
    );
    println!(
        "  fill rate: {:.1}%, split-shipment rate: {:.1}%, average shipping distance: {:.0} km",
        100.0 * k.fill_rate().unwrap_or(0.0),
        100.0 * k.split_rate().unwrap_or(0.0),
        k.average_shipping_km().unwrap_or(0.0)
    );
    println!(
        "  orders fulfilled in the evening: {} ({} click & collect transfers to pickup stores)",
        day.orders_fulfilled, day.collect_transfers
    );
    println!(
        "\nrestart at noon (durable, interval mode): {} journal records replayed in {:.1} ms",
        day.restart.records_replayed,
        day.restart.micros as f64 / 1e3
    );
    println!("\ninvariants");
    for (name, ok) in &day.invariants {
        println!("  [{}] {name}", if *ok { "ok" } else { "FAILED" });
    }
    if !day.all_invariants_hold() {
        std::process::exit(1);
    }
}
