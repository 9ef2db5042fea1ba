//! The day's summary objects: unit costs for the inventory value, the alerts of the day, and the
//! summary that adds up every shard's totals.

use super::*;

impl ReportWriter {
    /// The unit costs in force on `day` of the SKUs of a chunk of level keys (see
    /// [`as_of::unit_costs`]).
    pub(super) async fn costs(
        &self,
        order: &[(String, String)],
        day: i64,
    ) -> Result<HashMap<String, crate::domain::UnitCost>, ReportError> {
        Ok(as_of::unit_costs(&self.dynamodb, &self.table, order, day).await?)
    }

    /// The alert report (episodes fired during the day, as they stood at its end), staged.
    pub(super) async fn alerts(
        &self,
        day: i64,
    ) -> Result<
        (
            Vec<ObjectEntry>,
            usize,
            BTreeMap<String, i64>,
            BTreeMap<String, i64>,
        ),
        ReportError,
    > {
        let date = reports::date_of_day(day);
        let mut alerts = as_of::alerts_fired_on(&self.dynamodb, &self.table, day).await?;
        alerts.sort_by(|a, b| (&a.fired_at, &a.alert_id).cmp(&(&b.fired_at, &b.alert_id)));
        let mut by_severity: BTreeMap<String, i64> = BTreeMap::new();
        let mut by_kind: BTreeMap<String, i64> = BTreeMap::new();
        let mut dataset = Dataset::new("alerts", day, "part-00000", reports::ALERT_COLUMNS);
        for page in alerts.chunks(ALERT_PAGE) {
            let rows: Vec<reports::AlertRow> = page
                .iter()
                .map(|a| {
                    *by_severity.entry(a.severity.clone()).or_default() += 1;
                    *by_kind.entry(a.kind.clone()).or_default() += 1;
                    reports::AlertRow {
                        day: date.clone(),
                        minutes_to_acknowledge: reports::minutes_between(
                            &a.fired_at,
                            a.acknowledged_at.as_deref(),
                        ),
                        minutes_to_resolve: reports::minutes_between(
                            &a.fired_at,
                            a.resolved_at.as_deref(),
                        ),
                        alert_id: a.alert_id.clone(),
                        rule_id: a.rule_id.clone(),
                        rule_name: a.rule_name.clone(),
                        kind: a.kind.clone(),
                        severity: a.severity.clone(),
                        sku: a.sku.clone(),
                        location: a.location.clone(),
                        state: a.state.clone(),
                        acknowledged_at: a.acknowledged_at.clone(),
                        resolved_at: a.resolved_at.clone(),
                        fired_at: a.fired_at.clone(),
                    }
                })
                .collect();
            dataset.push(&self.bucket, &rows).await?;
        }
        let count = dataset.csv.rows;
        Ok((
            dataset.finish(&self.bucket).await?,
            count,
            by_kind,
            by_severity,
        ))
    }

    /// The HTML summary, staged.
    pub(super) async fn summary(
        &self,
        day: i64,
        t: &DayTotals<'_>,
    ) -> Result<ObjectEntry, ReportError> {
        let DayTotals {
            levels,
            alerts,
            sold_per_day,
            inventory_value,
            stock,
            by_kind,
            by_severity,
        } = *t;
        let mut totals = vec![
            ("Stock levels".to_owned(), levels.to_string()),
            (
                "Units sold".to_owned(),
                sold_per_day.get(&day).copied().unwrap_or(0).to_string(),
            ),
            ("Alerts fired".to_owned(), alerts.to_string()),
        ];
        totals.push(("Units on hand".to_owned(), stock.on_hand.to_string()));
        // Over every level: units sold ÷ average units on hand, and sold ÷ (sold + on hand).
        let avg_on_hand = stock.unit_days_30d as f64 / SERIES_DAYS as f64;
        if avg_on_hand > 0.0 {
            totals.push((
                "Turnover, 30 days".to_owned(),
                format!("{:.3}", stock.sold_30d as f64 / avg_on_hand),
            ));
        }
        if stock.sold_30d + stock.on_hand > 0 {
            totals.push((
                "Sell-through, 30 days".to_owned(),
                format!(
                    "{:.1} %",
                    100.0 * stock.sold_30d as f64 / (stock.sold_30d + stock.on_hand) as f64
                ),
            ));
        }
        for (label, units) in [
            "Units on hand received 0-30 days ago",
            "Units on hand received 31-90 days ago",
            "Units on hand received 91-180 days ago",
            "Units on hand received over 180 days ago",
            "Units on hand of unknown age",
        ]
        .into_iter()
        .zip(stock.age)
        {
            totals.push((label.to_owned(), units.to_string()));
        }
        for (currency, value) in inventory_value {
            totals.push((
                format!("Inventory value at cost ({currency})"),
                value.clone(),
            ));
        }
        let chart = |m: &BTreeMap<String, i64>| -> Vec<(String, f64)> {
            m.iter().map(|(k, v)| (k.clone(), *v as f64)).collect()
        };
        let sold_chart: Vec<(String, f64)> = sold_per_day
            .iter()
            .map(|(d, v)| (reports::date_of_day(*d), *v as f64))
            .collect();
        let html = reports::html_summary(
            day,
            &totals,
            &[
                (
                    "Units sold per day".to_owned(),
                    reports::svg_bars("Units sold per day", &sold_chart),
                ),
                (
                    "Alerts by severity".to_owned(),
                    reports::svg_bars("Alerts by severity", &chart(by_severity)),
                ),
                (
                    "Alerts by kind".to_owned(),
                    reports::svg_bars("Alerts by kind", &chart(by_kind)),
                ),
            ],
        );
        let final_key = reports::object_key("summary", day, "index.html");
        let mut summary = ObjectWriter::new(
            reports::staged_key(day, &final_key),
            final_key,
            "text/html; charset=utf-8",
        );
        summary.buffer = html;
        summary.rows = 1;
        summary.finish(&self.bucket).await
    }
}
