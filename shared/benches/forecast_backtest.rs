//! Forecast accuracy and the reorder policy, measured on seeded demand series of known kinds
//! (`shared::forecast`). Prints markdown; asserts nothing.
//!
//! 1. Backtest: for each kind, 40 series of 180 days of history and 28 days to forecast. MASE
//!    (the mean absolute error scaled by the in-sample seasonal-naive error) of the chosen
//!    forecast and of the seasonal-naive forecast itself, their ratio, and which methods won.
//! 2. Policy: 180 days of a daily-checked reorder policy (forecast refreshed weekly, 95 %
//!    service level, 7 days' lead time) against a fixed min/max policy set from the same history
//!    (min 1.5 × lead-time demand, max min + a week's demand), on the same demand: stockout days,
//!    fill rate and average stock.
//! 3. Cost: CPU time of one forecast of a 180-day series, and what 100,000 would take.
//!
//! Run: `cargo bench -p shared --bench forecast_backtest`

use std::time::Instant;

use rand::{rngs::StdRng, Rng, SeedableRng};
use shared::forecast::{forecast, forecast_with, mase, reorder, Method, Supply};

const HISTORY: usize = 180;
const HORIZON: usize = 28;
const SERIES: u64 = 40;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Smooth,
    Trending,
    Weekly,
    Intermittent,
    Promotions,
    NewSku,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Smooth => "smooth (Poisson 20/day)",
            Self::Trending => "trending (5 → 35/day)",
            Self::Weekly => "weekly seasonal (weekend × 2)",
            Self::Intermittent => "intermittent (a sale 1 day in 5)",
            Self::Promotions => "promotion spikes (× 4 for 3 days, 4 times)",
            Self::NewSku => "new SKU (10 days of history)",
        }
    }
}

fn poisson(rng: &mut StdRng, lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 0.0;
    }
    if lambda > 40.0 {
        // Normal approximation (Box-Muller).
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        return (lambda + z * lambda.sqrt()).round().max(0.0);
    }
    let l = (-lambda).exp();
    let (mut k, mut p) = (0.0, 1.0);
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1.0;
    }
}

/// `days` of demand of `kind`, seeded.
fn series(kind: Kind, seed: u64, days: usize) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let week = [0.7, 0.7, 0.8, 0.9, 1.0, 1.9, 2.0];
    let promos: Vec<usize> = (0..4).map(|_| rng.random_range(0..HISTORY - 3)).collect();
    (0..days)
        .map(|t| match kind {
            Kind::Smooth | Kind::NewSku => {
                poisson(&mut rng, if kind == Kind::NewSku { 8.0 } else { 20.0 })
            }
            Kind::Trending => poisson(&mut rng, 5.0 + 30.0 * t as f64 / days as f64),
            Kind::Weekly => poisson(&mut rng, 12.0 * week[t % 7]),
            Kind::Intermittent => {
                if rng.random::<f64>() < 0.2 {
                    1.0 + poisson(&mut rng, 2.0)
                } else {
                    0.0
                }
            }
            Kind::Promotions => {
                let promo = t < HISTORY && promos.iter().any(|p| (*p..*p + 3).contains(&t));
                poisson(&mut rng, if promo { 60.0 } else { 15.0 })
            }
        })
        .collect()
}

const KINDS: [Kind; 6] = [
    Kind::Smooth,
    Kind::Trending,
    Kind::Weekly,
    Kind::Intermittent,
    Kind::Promotions,
    Kind::NewSku,
];

fn backtest() {
    println!("## Forecast backtest ({SERIES} seeded series per kind, {HISTORY} days of history, {HORIZON} days ahead)");
    println!();
    println!("| kind | MASE, chosen forecast | MASE, seasonal naive | ratio | methods chosen |");
    println!("|---|---:|---:|---:|---|");
    for kind in KINDS {
        let (mut ours, mut naive) = (0.0, 0.0);
        let mut chosen: std::collections::BTreeMap<String, u32> = Default::default();
        for s in 0..SERIES {
            let history = if kind == Kind::NewSku { 10 } else { HISTORY };
            let y = series(kind, 1000 * s + kind as u64, history + HORIZON);
            let (train, test) = y.split_at(history);
            let f = forecast(train, HORIZON);
            *chosen.entry(format!("{:?}", f.method)).or_default() += 1;
            let sn = forecast_with(Method::SeasonalNaive, train, HORIZON);
            // A new SKU's 10 days have one week of seasonal-naive error to scale by.
            ours += mase(test, &f.mean, train);
            naive += mase(test, &sn, train);
        }
        let (ours, naive) = (ours / SERIES as f64, naive / SERIES as f64);
        let picks: Vec<String> = chosen.iter().map(|(m, n)| format!("{m} {n}")).collect();
        println!(
            "| {} | **{ours:.3}** | {naive:.3} | {:.2} | {} |",
            kind.name(),
            ours / naive,
            picks.join(", ")
        );
    }
    println!();
}

#[derive(Default)]
struct Outcome {
    stockout_days: u32,
    demanded: f64,
    served: f64,
    stock_days: f64,
    days: u32,
}

/// 180 days of a policy on `demand` (the first `HISTORY` days are its history). `order` gets
/// (day, history so far, available, on order) and says how many to order.
fn simulate(
    demand: &[f64],
    lead: usize,
    mut order: impl FnMut(usize, &[f64], i64, i64) -> u64,
    start: i64,
) -> Outcome {
    let mut out = Outcome::default();
    let mut stock = start;
    let mut arriving: Vec<(usize, i64)> = Vec::new();
    for day in HISTORY..demand.len() {
        stock += arriving
            .iter()
            .filter(|(d, _)| *d == day)
            .map(|(_, q)| *q)
            .sum::<i64>();
        arriving.retain(|(d, _)| *d > day);
        let d = demand[day] as i64;
        let served = d.min(stock);
        if served < d {
            out.stockout_days += 1;
        }
        out.demanded += d as f64;
        out.served += served as f64;
        stock -= served;
        out.stock_days += stock as f64;
        out.days += 1;
        let on_order: i64 = arriving.iter().map(|(_, q)| *q).sum();
        let q = order(day, &demand[..=day], stock, on_order);
        if q > 0 {
            arriving.push((day + lead + 1, q as i64));
        }
    }
    out
}

/// The fixed min/max policy with min = `k` × the history's lead-time demand and max = min + a
/// week's demand, over the kind's series: the summed outcome.
fn min_max(kind: Kind, k: f64) -> Outcome {
    let mut acc = Outcome::default();
    for s in 0..SERIES / 2 {
        let demand = series(kind, 7000 + 1000 * s + kind as u64, HISTORY * 2);
        let warm: f64 = demand[..HISTORY].iter().sum::<f64>() / HISTORY as f64;
        let min = (k * warm * 7.0).ceil() as i64;
        let max = min + (warm * 7.0).ceil() as i64;
        let o = simulate(
            &demand,
            7,
            |_, _, available, on_order| {
                let position = available + on_order;
                if position <= min {
                    (max - position) as u64
                } else {
                    0
                }
            },
            max,
        );
        acc.add(&o);
    }
    acc
}

impl Outcome {
    fn add(&mut self, o: &Outcome) {
        self.stockout_days += o.stockout_days;
        self.demanded += o.demanded;
        self.served += o.served;
        self.stock_days += o.stock_days;
        self.days += o.days;
    }

    fn average_stock(&self) -> f64 {
        self.stock_days / self.days.max(1) as f64
    }
}

fn policy() {
    let supply = Supply {
        lead_days: 7,
        review_days: 7,
        min_order: 1,
        pack_size: 1,
        service_level: 0.95,
    };
    println!(
        "## Reorder policy against fixed min/max ({} series per kind, 180 days, lead time 7 days)",
        SERIES / 2
    );
    println!();
    println!("The fixed policy is shown twice: by the rule of thumb (min 1.5 × the history's lead-time demand), and with its min set so that its average stock equals the forecast policy's (the comparison at equal stock).");
    println!();
    println!("| kind | policy | stockout days | fill rate | average stock |");
    println!("|---|---|---:|---:|---:|");
    for kind in KINDS.into_iter().filter(|k| *k != Kind::NewSku) {
        let mut ours = Outcome::default();
        for s in 0..SERIES / 2 {
            let demand = series(kind, 7000 + 1000 * s + kind as u64, HISTORY * 2);
            let warm: f64 = demand[..HISTORY].iter().sum::<f64>() / HISTORY as f64;
            let start = (2.5 * warm * 7.0).ceil() as i64;
            let mut cached: Option<(usize, shared::forecast::Forecast)> = None;
            let o = simulate(
                &demand,
                7,
                |day, history, available, on_order| {
                    if cached.as_ref().is_none_or(|(d, _)| day - d >= 7) {
                        let from = history.len().saturating_sub(HISTORY);
                        cached = Some((day, forecast(&history[from..], HORIZON)));
                    }
                    let f = &cached.as_ref().expect("set above").1;
                    reorder(f, &supply, available, on_order).suggested
                },
                start,
            );
            ours.add(&o);
        }
        let thumb = min_max(kind, 1.5);
        // The min multiplier whose average stock matches ours (average stock rises with it).
        let (mut lo, mut hi) = (0.0, 6.0);
        for _ in 0..30 {
            let mid = (lo + hi) / 2.0;
            if min_max(kind, mid).average_stock() < ours.average_stock() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let matched = min_max(kind, hi);
        let n = (SERIES / 2) as f64;
        for (name, o) in [
            ("forecast reorder point (95 %)".to_owned(), &ours),
            (
                "fixed min/max, min 1.5 × lead-time demand".to_owned(),
                &thumb,
            ),
            (
                format!("fixed min/max at equal stock (min {hi:.2} ×)"),
                &matched,
            ),
        ] {
            println!(
                "| {} | {name} | {:.1} | {:.1} % | {:.1} |",
                kind.name(),
                o.stockout_days as f64 / n,
                100.0 * o.served / o.demanded,
                o.average_stock()
            );
        }
    }
    println!();
}

fn cost() {
    let y: Vec<Vec<f64>> = (0..2000)
        .map(|s| series(KINDS[s % 5], s as u64, HISTORY))
        .collect();
    let started = Instant::now();
    let mut sink = 0.0;
    for s in &y {
        sink += forecast(s, HORIZON).mean[0];
    }
    let per = started.elapsed().as_secs_f64() / y.len() as f64;
    println!("## Forecast CPU (one core, no I/O)");
    println!();
    println!(
        "One forecast of a 180-day series (every method fitted and compared): **{:.0} µs**; 100,000 SKU-locations: **{:.0} s** of CPU (checksum {sink:.0}).",
        per * 1e6,
        per * 100_000.0
    );
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    backtest();
    policy();
    cost();
}
