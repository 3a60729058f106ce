//! The period a query names ("in May", "on 7 May 2023", "May 7th, 2023", "in 2022"), for the
//! date signal of hybrid search: a message written in that period (or within a few days
//! after it: people talk about what happened a while ago) is more likely the one asked about.

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, Utc};

use crate::text::Analyzer;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A period named by a query: the first date expression in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryPeriod {
    /// A year on its own ("in 2022").
    Year(i32),
    /// A month (1-12), optionally with a day and a year ("May", "7 May", "May 7th, 2023").
    /// Without a year, that month in the message's own year or the year before.
    Month {
        /// The year, if named.
        year: Option<i32>,
        /// 1-12.
        month: u32,
        /// The day of the month, if named.
        day: Option<u32>,
    },
}

/// A 1-2 digit day, optionally with an ordinal suffix ("7", "07", "7th", "22nd").
fn day_of(token: &str) -> Option<u32> {
    let digits = token.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &token[digits.len()..];
    if !(1..=2).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !matches!(suffix, "" | "st" | "nd" | "rd" | "th")
    {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

/// A four-digit year of the 20th or 21st century.
fn year_of(token: &str) -> Option<i32> {
    (token.len() == 4
        && (token.starts_with("19") || token.starts_with("20"))
        && token.bytes().all(|b| b.is_ascii_digit()))
    .then(|| token.parse().ok())
    .flatten()
}

/// A month name, capitalised as in running text ("May", not "may": the verb).
fn month_of(token: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| *m == token)
        .and_then(|i| u32::try_from(i + 1).ok())
}

impl QueryPeriod {
    /// The first period `query` names, if any: `[day] Month [day][,] [year]`, or a year alone.
    pub fn parse(query: &str) -> Option<Self> {
        Self::parse_words(query).map(|(period, _)| period)
    }

    /// [`QueryPeriod::parse`], with the words of `query` that name the period ("7", "May",
    /// "2023").
    pub fn parse_words(query: &str) -> Option<(Self, Vec<&str>)> {
        let tokens: Vec<&str> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .collect();
        for (i, token) in tokens.iter().enumerate() {
            let (month, rest, day_before) = if let Some(m) = month_of(token) {
                (m, i + 1, None)
            } else if let (Some(d), Some(m)) =
                (day_of(token), tokens.get(i + 1).and_then(|t| month_of(t)))
            {
                (m, i + 2, Some(d))
            } else if let Some(y) = year_of(token) {
                return Some((Self::Year(y), vec![*token]));
            } else {
                continue;
            };
            let mut next = rest;
            let day_after = match (day_before, tokens.get(next).and_then(|t| day_of(t))) {
                (None, Some(d)) => {
                    next += 1;
                    Some(d)
                }
                _ => None,
            };
            let year = tokens.get(next).and_then(|t| year_of(t));
            if year.is_some() {
                next += 1;
            }
            let period = Self::Month {
                year,
                month,
                day: day_before.or(day_after),
            };
            return Some((period, tokens[i..next].to_vec()));
        }
        None
    }

    /// Whether `t` falls in the period or within `grace` after its end.
    pub fn contains(&self, t: DateTime<Utc>, grace: Duration) -> bool {
        let at = t.naive_utc();
        let within = |start: Option<NaiveDate>, end: Option<NaiveDate>| match (start, end) {
            (Some(s), Some(e)) => {
                let (s, e) = (
                    s.and_time(chrono::NaiveTime::MIN),
                    e.and_time(chrono::NaiveTime::MIN),
                );
                s <= at && at < e + grace
            }
            _ => false,
        };
        match *self {
            Self::Year(y) => within(
                NaiveDate::from_ymd_opt(y, 1, 1),
                NaiveDate::from_ymd_opt(y + 1, 1, 1),
            ),
            Self::Month { year, month, day } => {
                // Without a year: the message's own year, or the one before.
                let years = match year {
                    Some(y) => [y, y],
                    None => [t.year(), t.year() - 1],
                };
                years.into_iter().any(|y| match day {
                    Some(d) => {
                        let start = NaiveDate::from_ymd_opt(y, month, d);
                        within(start, start.and_then(|s| s.succ_opt()))
                    }
                    None => {
                        let (ny, nm) = if month == 12 {
                            (y + 1, 1)
                        } else {
                            (y, month + 1)
                        };
                        within(
                            NaiveDate::from_ymd_opt(y, month, 1),
                            NaiveDate::from_ymd_opt(ny, nm, 1),
                        )
                    }
                })
            }
        }
    }
}

/// A period a query names, with the query's terms that name it: those words are matched by
/// a message's `created_at`, not by its text (docs/scoring.md, "Relevance and
/// `min_relevance`"): a message written in the period counts as mentioning them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPeriod {
    period: QueryPeriod,
    terms: Vec<String>,
}

impl NamedPeriod {
    /// A period and the analysed query terms that name it.
    pub fn new(period: QueryPeriod, terms: Vec<String>) -> Self {
        Self { period, terms }
    }

    /// The first period `query` names, with its words as `analyzer` makes terms of them.
    pub fn in_query(query: &str, analyzer: &Analyzer) -> Option<Self> {
        let (period, words) = QueryPeriod::parse_words(query)?;
        Some(Self::new(period, analyzer.terms(&words.join(" "))))
    }

    /// The period.
    pub fn period(&self) -> &QueryPeriod {
        &self.period
    }

    /// The query terms that name it.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Whether `t` is in the period or within `grace` after it ([`QueryPeriod::contains`]).
    pub fn contains(&self, t: DateTime<Utc>, grace: Duration) -> bool {
        self.period.contains(t, grace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_first_date_expression_is_the_period() {
        use QueryPeriod::*;
        let month = |year, month, day| Month { year, month, day };
        assert_eq!(
            QueryPeriod::parse("What did Caroline do in May?"),
            Some(month(None, 5, None))
        );
        assert_eq!(
            QueryPeriod::parse("on 7 May 2023"),
            Some(month(Some(2023), 5, Some(7)))
        );
        assert_eq!(
            QueryPeriod::parse("May 7th, 2023?"),
            Some(month(Some(2023), 5, Some(7)))
        );
        assert_eq!(
            QueryPeriod::parse("the week of 22nd June"),
            Some(month(None, 6, Some(22)))
        );
        assert_eq!(
            QueryPeriod::parse("in 2022, and May 2023"),
            Some(Year(2022))
        );
        assert_eq!(
            QueryPeriod::parse("June 2023"),
            Some(month(Some(2023), 6, None))
        );
        // Not dates: a lower-case "may", other numbers, nothing at all.
        assert_eq!(
            QueryPeriod::parse("may I ask about 42 cats, 12345 or 3000?"),
            None
        );
        assert_eq!(QueryPeriod::parse("When did she move?"), None);
        assert_eq!(QueryPeriod::parse(""), None);
    }

    #[test]
    fn the_words_that_name_the_period_become_its_terms() {
        let a = Analyzer::english();
        let named = |q: &str| NamedPeriod::in_query(q, a).map(|p| p.terms().to_vec());
        assert_eq!(
            QueryPeriod::parse_words("What did Gina find on 1 February, 2023?"),
            Some((
                QueryPeriod::Month {
                    year: Some(2023),
                    month: 2,
                    day: Some(1)
                },
                vec!["1", "February", "2023"]
            ))
        );
        assert_eq!(
            named("What did Gina find on 1 February, 2023 for her store?"),
            Some(vec![
                "1".to_owned(),
                "februari".to_owned(),
                "2023".to_owned()
            ])
        );
        assert_eq!(
            named("Where was Tim on May 7th 2023?"),
            Some(vec!["may".to_owned(), "7th".to_owned(), "2023".to_owned()])
        );
        assert_eq!(
            named("in 2022, and May 2023"),
            Some(vec!["2022".to_owned()])
        );
        assert_eq!(named("When did she move?"), None);
        let p = NamedPeriod::in_query("in June", a).expect("a month");
        assert_eq!(p.period(), &QueryPeriod::parse("in June").expect("a month"));
        assert!(p.contains(
            "2023-06-10T00:00:00Z".parse().expect("time"),
            Duration::zero()
        ));
    }

    #[test]
    fn a_message_is_in_the_period_or_a_few_days_after() {
        let week = Duration::days(7);
        let may = QueryPeriod::parse("in May").expect("a month");
        assert!(may.contains(at("2023-05-01T00:00:00Z"), week));
        assert!(
            may.contains(at("2023-06-07T23:59:59Z"), week),
            "grace after the month"
        );
        assert!(!may.contains(at("2023-06-08T00:00:00Z"), week));
        assert!(!may.contains(at("2023-04-30T23:59:59Z"), week));
        let december = QueryPeriod::parse("last December").expect("a month");
        assert!(
            december.contains(at("2023-01-03T10:00:00Z"), week),
            "the year before"
        );
        let day = QueryPeriod::parse("on 7 May 2023").expect("a day");
        assert!(day.contains(at("2023-05-07T13:00:00Z"), Duration::zero()));
        assert!(!day.contains(at("2023-05-08T00:00:00Z"), Duration::zero()));
        assert!(
            !day.contains(at("2022-05-07T13:00:00Z"), week),
            "another year"
        );
        let year = QueryPeriod::parse("in 2022").expect("a year");
        assert!(year.contains(at("2022-12-31T23:00:00Z"), week));
        assert!(year.contains(at("2023-01-05T00:00:00Z"), week));
        assert!(!year.contains(at("2023-01-09T00:00:00Z"), week));
        // An impossible date matches nothing, and does not panic.
        let never = QueryPeriod::parse("31 February").expect("parsed");
        assert!(!never.contains(at("2023-02-28T00:00:00Z"), week));
    }
}
