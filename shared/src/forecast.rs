//! Demand forecasts per SKU-location, and the reorder point and order they imply. Pure Rust over
//! daily unit series (oldest first); no I/O.
//!
//! A shop's series come in a few shapes, and each has its method:
//! - smooth demand: simple exponential smoothing;
//! - trend: Holt's linear method with a damped trend;
//! - a weekly pattern: additive Holt-Winters with a 7-day season;
//! - intermittent demand (most days zero): Croston, its bias-corrected SBA, and TSB (which also
//!   follows a fading demand);
//! - the seasonal-naive forecast (the same weekday last week) as the baseline.
//!
//! [`forecast`] fits every method that the series is long enough for on all but its last
//! [`holdout`] days and scores each by its absolute error there, simplest first: a more complex
//! method is chosen only when it beats the choice so far by [`COMPLEXITY_MARGIN`]. The choice is
//! refitted on the whole series. A series shorter than [`MIN_HISTORY`] days gets the mean of what it has (or 0), marked
//! as a fallback. Each forecast keeps its mean per day, the spread of its one-step errors
//! (`sigma`) and of its demand summed over k days (`spread`, measured by refitting at past
//! origins), from which [`reorder`] sets the safety stock.
//!
//! The `augurs` crate's ETS has no seasonal models yet and no Croston family, so these few
//! methods are written here: each is a short recursion, fitted by a small grid search.

use serde::Serialize;

/// Days of history below which no model is fitted.
pub const MIN_HISTORY: usize = 14;
/// The weekly season.
pub const SEASON: usize = 7;

/// A forecasting method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    SeasonalNaive,
    Ses,
    /// A straight line through the last [`TREND_WINDOW`] days (least squares), carried on.
    LinearTrend,
    Holt,
    HoltWinters,
    Croston,
    Sba,
    Tsb,
    /// Too little history: the mean of what there is.
    Fallback,
}

/// A forecast of daily demand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub method: Method,
    /// Expected units per day, from tomorrow on.
    pub mean: Vec<f64>,
    /// Standard deviation of the method's one-step errors over the history (units per day).
    pub sigma: f64,
    /// Standard deviation of the error summed over `k + 1` days running (`spread[k]`, up to the
    /// horizon): what a lead time of that many days is uncertain by. Errors that persist (a
    /// level or trend off for days) make it grow faster than √k × sigma.
    pub spread: Vec<f64>,
    /// Mean absolute error of the chosen method on the hold-out days (None for a fallback).
    pub holdout_mae: Option<f64>,
}

/// A fitted model: one-step predictions over the history it was fitted on, and its forecast.
struct Fit {
    fitted: Vec<f64>,
    ahead: Vec<f64>,
}

fn sse(y: &[f64], fitted: &[f64], from: usize) -> f64 {
    y.iter()
        .zip(fitted)
        .skip(from)
        .map(|(a, f)| (a - f).powi(2))
        .sum()
}

fn mean(y: &[f64]) -> f64 {
    if y.is_empty() {
        0.0
    } else {
        y.iter().sum::<f64>() / y.len() as f64
    }
}

const ALPHAS: [f64; 7] = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8];

fn seasonal_naive(y: &[f64], h: usize) -> Fit {
    let n = y.len();
    let fitted = (0..n)
        .map(|t| if t >= SEASON { y[t - SEASON] } else { y[t] })
        .collect();
    let ahead = (0..h)
        .map(|k| {
            if n >= SEASON {
                y[n - SEASON + k % SEASON]
            } else {
                mean(y)
            }
        })
        .collect();
    Fit { fitted, ahead }
}

fn ses_with(y: &[f64], h: usize, alpha: f64) -> Fit {
    let mut level = mean(&y[..y.len().min(SEASON)]);
    let mut fitted = Vec::with_capacity(y.len());
    for &v in y {
        fitted.push(level);
        level += alpha * (v - level);
    }
    Fit {
        fitted,
        ahead: vec![level; h],
    }
}

fn ses(y: &[f64], h: usize) -> Fit {
    best(ALPHAS.iter().map(|&a| ses_with(y, h, a)), y, 1)
}

/// Days the linear trend is fitted over (13 weeks: a quarter's trend, not the whole history's).
pub const TREND_WINDOW: usize = 91;

/// The least-squares line through `y` (intercept at index 0, slope per day).
fn line(y: &[f64]) -> (f64, f64) {
    let n = y.len() as f64;
    let tm = (n - 1.0) / 2.0;
    let ym = mean(y);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in y.iter().enumerate() {
        let d = t as f64 - tm;
        sxy += d * (v - ym);
        sxx += d * d;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (ym - slope * tm, slope)
}

/// Linear trend: each day fitted by the line through the window before it (so the fit's errors
/// are one-step errors, as the other methods'), the forecast by the line through the last
/// window.
fn linear_trend(y: &[f64], h: usize) -> Fit {
    let n = y.len();
    let mut fitted = Vec::with_capacity(n);
    for t in 0..n {
        if t < SEASON {
            fitted.push(mean(&y[..t.max(1).min(n)]));
            continue;
        }
        let from = t.saturating_sub(TREND_WINDOW);
        let (a, b) = line(&y[from..t]);
        fitted.push(a + b * (t - from) as f64);
    }
    let from = n.saturating_sub(TREND_WINDOW);
    let (a, b) = line(&y[from..]);
    let ahead = (0..h).map(|k| a + b * (n - from + k) as f64).collect();
    Fit { fitted, ahead }
}

fn holt_with(y: &[f64], h: usize, alpha: f64, beta: f64, phi: f64) -> Fit {
    let w = SEASON.min(y.len() / 2).max(1);
    let (first, second) = (mean(&y[..w]), mean(&y[w..2 * w]));
    let mut level = first;
    let mut trend = (second - first) / w as f64;
    let mut fitted = Vec::with_capacity(y.len());
    for &v in y {
        let f = level + phi * trend;
        fitted.push(f);
        let new_level = f + alpha * (v - f);
        trend = beta * (new_level - level) + (1.0 - beta) * phi * trend;
        level = new_level;
    }
    let mut ahead = Vec::with_capacity(h);
    let mut damp = 0.0;
    let mut p = 1.0;
    for _ in 0..h {
        p *= phi;
        damp += p;
        ahead.push(level + damp * trend);
    }
    Fit { fitted, ahead }
}

fn holt(y: &[f64], h: usize) -> Fit {
    let mut fits = Vec::new();
    for &a in &[0.05, 0.1, 0.2, 0.3, 0.5] {
        for &b in &[0.01, 0.05, 0.1, 0.2] {
            for &phi in &[0.9, 0.98] {
                fits.push(holt_with(y, h, a, b, phi));
            }
        }
    }
    best(fits.into_iter(), y, SEASON)
}

fn holt_winters_with(y: &[f64], h: usize, alpha: f64, beta: f64, gamma: f64) -> Fit {
    // Initial level and trend from the first two seasons, the season from the first's deviations.
    let (s1, s2) = (mean(&y[..SEASON]), mean(&y[SEASON..2 * SEASON]));
    let mut level = s1;
    let mut trend = (s2 - s1) / SEASON as f64;
    let mut season: Vec<f64> = y[..SEASON].iter().map(|v| v - s1).collect();
    let mut fitted = Vec::with_capacity(y.len());
    for (t, &v) in y.iter().enumerate() {
        let s = season[t % SEASON];
        let f = level + trend + s;
        fitted.push(f);
        let new_level = alpha * (v - s) + (1.0 - alpha) * (level + trend);
        trend = beta * (new_level - level) + (1.0 - beta) * trend;
        season[t % SEASON] = gamma * (v - new_level) + (1.0 - gamma) * s;
        level = new_level;
    }
    // Ahead, the trend is damped (0.98 a day), as a shop's trends do not run on for ever.
    let n = y.len();
    let mut damp = 0.0;
    let mut p = 1.0;
    let ahead = (0..h)
        .map(|k| {
            p *= 0.98;
            damp += p;
            level + damp * trend + season[(n + k) % SEASON]
        })
        .collect();
    Fit { fitted, ahead }
}

fn holt_winters(y: &[f64], h: usize) -> Fit {
    let mut fits = Vec::new();
    for &a in &[0.02, 0.05, 0.1, 0.2, 0.4] {
        for &b in &[0.0, 0.01, 0.05] {
            for &g in &[0.05, 0.1, 0.2, 0.4] {
                fits.push(holt_winters_with(y, h, a, b, g));
            }
        }
    }
    best(fits.into_iter(), y, 2 * SEASON)
}

/// Croston's method (SBA with `bias`: the forecast times 1 − α/2).
fn croston_with(y: &[f64], h: usize, alpha: f64, bias: bool) -> Fit {
    let first = y.iter().position(|v| *v > 0.0);
    let Some(first) = first else {
        return Fit {
            fitted: vec![0.0; y.len()],
            ahead: vec![0.0; h],
        };
    };
    let mut size = y[first];
    let mut interval = (first + 1) as f64;
    let mut since = 0usize;
    let factor = if bias { 1.0 - alpha / 2.0 } else { 1.0 };
    let mut fitted = Vec::with_capacity(y.len());
    for (t, &v) in y.iter().enumerate() {
        fitted.push(if t <= first {
            0.0
        } else {
            factor * size / interval
        });
        if t <= first {
            continue;
        }
        since += 1;
        if v > 0.0 {
            size += alpha * (v - size);
            interval += alpha * (since as f64 - interval);
            since = 0;
        }
    }
    Fit {
        fitted,
        ahead: vec![factor * size / interval.max(1.0); h],
    }
}

fn croston(y: &[f64], h: usize, bias: bool) -> Fit {
    best(
        [0.05, 0.1, 0.2, 0.3]
            .iter()
            .map(|&a| croston_with(y, h, a, bias)),
        y,
        SEASON,
    )
}

/// TSB: the demand probability is updated every day, the size on demand days.
fn tsb_with(y: &[f64], h: usize, alpha_p: f64, alpha_z: f64) -> Fit {
    let demand_days: Vec<f64> = y.iter().copied().filter(|v| *v > 0.0).collect();
    let mut p = demand_days.len() as f64 / y.len().max(1) as f64;
    let mut z = mean(&demand_days);
    let mut fitted = Vec::with_capacity(y.len());
    for &v in y {
        fitted.push(p * z);
        let d = if v > 0.0 { 1.0 } else { 0.0 };
        p += alpha_p * (d - p);
        if v > 0.0 {
            z += alpha_z * (v - z);
        }
    }
    Fit {
        fitted,
        ahead: vec![p * z; h],
    }
}

fn tsb(y: &[f64], h: usize) -> Fit {
    let mut fits = Vec::new();
    for &ap in &[0.02, 0.05, 0.1, 0.2] {
        for &az in &[0.05, 0.1, 0.2] {
            fits.push(tsb_with(y, h, ap, az));
        }
    }
    best(fits.into_iter(), y, SEASON)
}

/// The fit with the least in-sample squared one-step error (after `from` warm-up days).
fn best(fits: impl Iterator<Item = Fit>, y: &[f64], from: usize) -> Fit {
    fits.min_by(|a, b| {
        sse(y, &a.fitted, from)
            .partial_cmp(&sse(y, &b.fitted, from))
            .unwrap_or(std::cmp::Ordering::Equal)
    })
    .expect("at least one candidate")
}

fn fit(method: Method, y: &[f64], h: usize) -> Fit {
    let mut f = match method {
        Method::SeasonalNaive => seasonal_naive(y, h),
        Method::Ses => ses(y, h),
        Method::LinearTrend => linear_trend(y, h),
        Method::Holt => holt(y, h),
        Method::HoltWinters => holt_winters(y, h),
        Method::Croston => croston(y, h, false),
        Method::Sba => croston(y, h, true),
        Method::Tsb => tsb(y, h),
        Method::Fallback => Fit {
            fitted: vec![mean(y); y.len()],
            ahead: vec![mean(y); h],
        },
    };
    // Demand is never negative.
    for v in &mut f.ahead {
        *v = v.max(0.0);
    }
    f
}

/// The share of days without a sale.
fn zero_share(y: &[f64]) -> f64 {
    y.iter().filter(|v| **v <= 0.0).count() as f64 / y.len().max(1) as f64
}

/// The days held out to choose a method: a quarter of the history, 7 to 28 days.
pub fn holdout(n: usize) -> usize {
    (n / 4).clamp(SEASON, 28)
}

/// Past origins the spread of a forecast over several days is measured from, a week apart.
pub const ORIGINS: usize = 8;
/// Days after the last origin (the most recent origin is this many days before the end).
const HORIZON_CHECK: usize = 28;

/// How much less hold-out error a more complex method needs to be chosen over a simpler one.
pub const COMPLEXITY_MARGIN: f64 = 0.05;

/// The methods tried on a series of `n` days with that share of zero days, simplest first.
fn candidates(n: usize, zeros: f64) -> Vec<Method> {
    let mut m = vec![Method::Ses];
    if zeros >= 0.3 {
        m.extend([Method::Sba, Method::Croston, Method::Tsb]);
    }
    m.push(Method::SeasonalNaive);
    if n >= 3 * SEASON {
        m.push(Method::LinearTrend);
        m.push(Method::Holt);
    }
    if n >= 4 * SEASON {
        m.push(Method::HoltWinters);
    }
    m
}

fn mae(actual: &[f64], predicted: &[f64]) -> f64 {
    mean(
        &actual
            .iter()
            .zip(predicted)
            .map(|(a, p)| (a - p).abs())
            .collect::<Vec<_>>(),
    )
}

/// Forecasts the next `horizon` days of `history` (units per day, oldest first).
pub fn forecast(history: &[f64], horizon: usize) -> Forecast {
    let n = history.len();
    if n < MIN_HISTORY {
        let m = mean(history);
        let sigma = if n > 1 {
            (history.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            m.sqrt()
        };
        return Forecast {
            method: Method::Fallback,
            mean: vec![m.max(0.0); horizon],
            sigma,
            spread: (1..=horizon).map(|k| sigma * (k as f64).sqrt()).collect(),
            holdout_mae: None,
        };
    }
    let h = holdout(n);
    let (train, test) = history.split_at(n - h);
    let zeros = zero_share(train);
    // Candidates come simplest first; a more complex one must beat the best so far by
    // [`COMPLEXITY_MARGIN`] on the hold-out, so a trend or a season seen in noise is not
    // extrapolated over the lead time.
    let mut scored = candidates(train.len(), zeros)
        .into_iter()
        .map(|m| (m, mae(test, &fit(m, train, h).ahead)));
    let mut chosen = scored.next().expect("at least one candidate");
    for (m, e) in scored {
        if e < chosen.1 * (1.0 - COMPLEXITY_MARGIN) {
            chosen = (m, e);
        }
    }
    let (method, holdout_mae) = chosen;
    let full = fit(method, history, horizon);
    let warm = (2 * SEASON).min(n - 1);
    let residuals: Vec<f64> = history
        .iter()
        .zip(&full.fitted)
        .skip(warm)
        .map(|(a, f)| a - f)
        .collect();
    let r_mean = mean(&residuals);
    let sigma = (residuals.iter().map(|r| (r - r_mean).powi(2)).sum::<f64>()
        / residuals.len().saturating_sub(1).max(1) as f64)
        .sqrt();
    // How far off the method's demand over k days was, forecast from earlier days of the
    // history: a fit at each of up to [`ORIGINS`] past origins a week apart, its forecast
    // summed over k days against what sold. This keeps what one-step errors miss: a level or a
    // trend that is off stays off for the whole lead time. Never less than independent daily
    // errors would give.
    let mut squares = vec![0.0f64; horizon];
    let mut counts = vec![0usize; horizon];
    for j in 0..ORIGINS {
        let Some(origin) = n.checked_sub(HORIZON_CHECK + SEASON * j) else {
            break;
        };
        if origin < 2 * MIN_HISTORY {
            break;
        }
        let ahead = fit(method, &history[..origin], horizon.min(n - origin)).ahead;
        let mut cumulative = 0.0;
        for (k, (f, a)) in ahead.iter().zip(&history[origin..]).enumerate() {
            cumulative += a - f;
            squares[k] += cumulative * cumulative;
            counts[k] += 1;
        }
    }
    let spread = (0..horizon)
        .map(|k| {
            let independent = sigma * ((k + 1) as f64).sqrt();
            if counts[k] == 0 {
                independent
            } else {
                (squares[k] / counts[k] as f64).sqrt().max(independent)
            }
        })
        .collect();
    Forecast {
        method,
        mean: full.ahead,
        sigma,
        spread,
        holdout_mae: Some(holdout_mae),
    }
}

/// The forecast of one method alone (benchmarks compare them).
pub fn forecast_with(method: Method, history: &[f64], horizon: usize) -> Vec<f64> {
    fit(method, history, horizon).ahead
}

/// Mean absolute scaled error of `predicted` against `actual`, scaled by the in-sample error of
/// the seasonal-naive forecast on `training` (Hyndman and Koehler): below 1 beats it.
pub fn mase(actual: &[f64], predicted: &[f64], training: &[f64]) -> f64 {
    let scale = mean(
        &training
            .windows(SEASON + 1)
            .map(|w| (w[SEASON] - w[0]).abs())
            .collect::<Vec<_>>(),
    );
    let e = mae(actual, predicted);
    if scale > 0.0 {
        e / scale
    } else if e == 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// What the shop buys from: all optional on the SKU, the lead time per SKU-location too.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Supply {
    pub lead_days: u32,
    /// How often orders are placed (the suggestion covers it beyond the lead time).
    pub review_days: u32,
    pub min_order: u32,
    pub pack_size: u32,
    /// The share of lead times that should not run out (0.5 to 0.999).
    pub service_level: f64,
}

impl Default for Supply {
    fn default() -> Self {
        Self {
            lead_days: 7,
            review_days: 7,
            min_order: 1,
            pack_size: 1,
            service_level: 0.95,
        }
    }
}

/// The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9).
pub fn z_for(p: f64) -> f64 {
    let p = p.clamp(1e-9, 1.0 - 1e-9);
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -z_for(1.0 - p)
    }
}

/// Days between two checks of a level against its reorder point (the daily scheduled run).
pub const CHECK_DAYS: usize = 1;

/// The reorder point and the order a forecast implies for a level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reorder {
    /// Forecast demand over the lead time plus the safety stock.
    pub reorder_point: f64,
    pub safety_stock: f64,
    /// The order-up-to level: demand over the lead time and a review period plus safety stock.
    pub target: f64,
    /// Units to order now (0: none needed): enough for the lead time and a review period,
    /// less what is available and on its way, in whole packs, at least the minimum order.
    pub suggested: u64,
}

fn demand_over(f: &Forecast, days: usize) -> f64 {
    let last = f.mean.last().copied().unwrap_or(0.0);
    (0..days)
        .map(|d| f.mean.get(d).copied().unwrap_or(last))
        .sum()
}

/// The reorder point of `f` under `supply`, and what to order with `available` and `in_transit`.
pub fn reorder(f: &Forecast, supply: &Supply, available: i64, in_transit: i64) -> Reorder {
    // Levels are checked once a day, so an order placed today must cover the lead time and the
    // day until the next check (the protection interval).
    let lead = supply.lead_days as usize + CHECK_DAYS;
    let z = z_for(supply.service_level.clamp(0.5, 0.999));
    let spread = f
        .spread
        .get(lead - 1)
        .copied()
        .unwrap_or(f.sigma * (lead as f64).sqrt());
    let safety_stock = (z * spread).max(0.0);
    let reorder_point = demand_over(f, lead) + safety_stock;
    let position = (available + in_transit) as f64;
    let target =
        demand_over(f, supply.lead_days as usize + supply.review_days as usize) + safety_stock;
    Reorder {
        reorder_point,
        safety_stock,
        target,
        suggested: suggest(reorder_point, target, position, supply),
    }
}

/// What to order at stock `position` (available + in transit): nothing above the reorder
/// point, or with no demand to cover; else up to `target`, in whole packs, at least the
/// minimum order.
pub fn suggest(reorder_point: f64, target: f64, position: f64, supply: &Supply) -> u64 {
    if position > reorder_point || target <= 0.0 {
        return 0;
    }
    let need = (target - position).max(0.0).ceil() as u64;
    let pack = u64::from(supply.pack_size.max(1));
    let packs = need.div_ceil(pack) * pack;
    packs.max(u64::from(supply.min_order)).max(pack)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn a_constant_series_is_forecast_as_itself_by_every_method() {
        let y = vec![5.0; 60];
        for m in [
            Method::SeasonalNaive,
            Method::Ses,
            Method::Holt,
            Method::HoltWinters,
            Method::Croston,
            Method::Sba,
            Method::Tsb,
        ] {
            let f = forecast_with(m, &y, 14);
            let expected = if m == Method::Sba {
                5.0 * (1.0 - 0.025)
            } else {
                5.0
            };
            assert!(f.iter().all(|v| close(*v, expected, 0.15)), "{m:?}: {f:?}");
        }
        let f = forecast(&y, 28);
        assert!(f.mean.iter().all(|v| close(*v, 5.0, 0.15)), "{f:?}");
        assert!(f.sigma < 0.01, "{f:?}");
    }

    #[test]
    fn a_straight_trend_is_followed_by_the_trend_methods() {
        let y: Vec<f64> = (0..90).map(|t| 10.0 + 0.5 * t as f64).collect();
        let f = forecast_with(Method::Holt, &y, 7);
        // The next day is 55; a damped trend bends a little below the line.
        assert!(close(f[0], 55.0, 1.0), "{f:?}");
        assert!(f[6] > f[0] + 2.0, "{f:?}");
        // The linear trend carries the line on exactly.
        let f = forecast_with(Method::LinearTrend, &y, 7);
        assert!(close(f[0], 55.0, 1e-6) && close(f[6], 58.0, 1e-6), "{f:?}");
        // Holt-Winters has a trend too: any of them follows the line.
        let chosen = forecast(&y, 7);
        assert!(
            matches!(
                chosen.method,
                Method::LinearTrend | Method::Holt | Method::HoltWinters
            ),
            "{chosen:?}"
        );
        assert!(close(chosen.mean[0], 55.0, 1.0), "{chosen:?}");
        assert!(chosen.mean[6] > chosen.mean[0] + 2.0, "{chosen:?}");
    }

    #[test]
    fn a_weekly_pattern_is_kept_by_holt_winters() {
        let week = [2.0, 3.0, 4.0, 5.0, 6.0, 20.0, 25.0];
        let y: Vec<f64> = (0..120).map(|t| week[t % 7]).collect();
        let f = forecast_with(Method::HoltWinters, &y, 14);
        for (k, v) in f.iter().enumerate() {
            assert!(close(*v, week[(120 + k) % 7], 0.5), "day {k}: {f:?}");
        }
        let chosen = forecast(&y, 14);
        assert!(
            matches!(chosen.method, Method::HoltWinters | Method::SeasonalNaive),
            "{chosen:?}"
        );
    }

    #[test]
    fn intermittent_demand_is_forecast_as_size_over_interval() {
        // 6 units every 4th day: 1.5 a day on average.
        let y: Vec<f64> = (0..120)
            .map(|t| if t % 4 == 3 { 6.0 } else { 0.0 })
            .collect();
        for m in [Method::Croston, Method::Tsb] {
            let f = forecast_with(m, &y, 7);
            assert!(close(f[0], 1.5, 0.1), "{m:?}: {f:?}");
        }
        let sba = forecast_with(Method::Sba, &y, 7);
        assert!(sba[0] < 1.5 && sba[0] > 1.2, "{sba:?}");
        // Demand that stopped: TSB lets it fade, Croston keeps the old rate.
        let mut fading = y.clone();
        fading.extend(vec![0.0; 60]);
        let tsb = forecast_with(Method::Tsb, &fading, 7)[0];
        let cro = forecast_with(Method::Croston, &fading, 7)[0];
        assert!(tsb < 0.5 * cro, "tsb {tsb} croston {cro}");
    }

    #[test]
    fn a_new_sku_falls_back_to_the_mean_of_its_days_and_says_so() {
        let f = forecast(&[3.0, 5.0, 4.0], 28);
        assert_eq!(f.method, Method::Fallback);
        assert_eq!(f.mean.len(), 28);
        assert!(close(f.mean[0], 4.0, 1e-9));
        assert_eq!(f.holdout_mae, None);
        let none = forecast(&[], 5);
        assert_eq!(none.mean, vec![0.0; 5]);
    }

    #[test]
    fn the_normal_quantile_matches_its_table() {
        assert!(close(z_for(0.5), 0.0, 1e-9));
        assert!(close(z_for(0.95), 1.644_853_6, 1e-6));
        assert!(close(z_for(0.99), 2.326_347_9, 1e-6));
        assert!(close(z_for(0.05), -1.644_853_6, 1e-6));
    }

    #[test]
    fn the_reorder_point_covers_the_lead_time_and_the_order_fills_whole_packs() {
        let f = Forecast {
            method: Method::Ses,
            mean: vec![10.0; 28],
            sigma: 4.0,
            spread: (1..=28).map(|k| 4.0 * (k as f64).sqrt()).collect(),
            holdout_mae: Some(1.0),
        };
        let supply = Supply {
            lead_days: 4,
            review_days: 7,
            min_order: 50,
            pack_size: 12,
            service_level: 0.95,
        };
        // The lead time and the day to the next check: 50 + 1.645 × 4 × √5 = 14.71 of safety stock.
        let r = reorder(&f, &supply, 30, 0);
        assert!(close(r.reorder_point, 64.71, 0.01), "{r:?}");
        // Target 110 + 14.71 − 30 = 94.7 → 8 packs of 12.
        assert_eq!(r.suggested, 96);
        // Enough on its way: nothing to order.
        assert_eq!(reorder(&f, &supply, 30, 40).suggested, 0);
        // A small need still orders the minimum.
        let r = reorder(&f, &supply, 60, 0);
        assert!(r.suggested >= 50 && r.suggested.is_multiple_of(12), "{r:?}");
    }

    #[test]
    fn mase_is_zero_for_a_perfect_forecast_and_grows_with_its_error() {
        let training: Vec<f64> = (0..56).map(|t| (t % 3) as f64).collect();
        let actual = vec![1.0; 7];
        assert!(mase(&actual, &actual, &training) == 0.0);
        // The in-sample seasonal-naive error of 0,1,2,0,1,2,… (lag 7) is 65 over 49 days.
        let one_off = mase(&actual, &[2.0; 7], &training);
        assert!(close(one_off, 49.0 / 65.0, 1e-9), "{one_off}");
        assert!(mase(&actual, &[3.0; 7], &training) > one_off);
    }
}
