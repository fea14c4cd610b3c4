//! Exact quantities.
//!
//! A [`Qty`] is an exact decimal (`mantissa * 10^-scale`). Whole-unit SKUs use
//! scale 0 and stay on the integer fast path; a SKU declared with a unit scale
//! (say 3, for grams of a kilo-priced good) takes up to that many decimals.
//! Inside the engine every level is an `i64` count of the SKU's smallest unit
//! ("minor units"), so arithmetic never touches floats or `Decimal`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Largest unit scale a SKU may declare.
pub const MAX_SCALE: u8 = 6;
/// Largest level or quantity, in minor units, that the engine accepts.
/// Sums over thousands of locations still fit in an `i64`.
pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

const INVALID_SCALE: u8 = u8::MAX;
const POW10: [i64; 19] = {
    let mut t = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// An exact quantity: whole units (`Qty::from(3)`) or a decimal
/// (`Qty::from(dec!(1.250))`).
#[derive(Clone, Copy, Debug)]
pub struct Qty {
    mantissa: i64,
    scale: u8,
}

/// Why a quantity was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QtyProblem {
    /// Zero or negative where a positive quantity is required.
    NotPositive,
    /// Negative where zero or more is required.
    Negative,
    /// More decimals than the SKU's unit scale.
    TooManyDecimals,
    /// Larger than the engine's limit (`MAX_MINOR` minor units) or than the
    /// level it would change can hold.
    Overflow,
}

impl fmt::Display for QtyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QtyProblem::NotPositive => "must be greater than zero",
            QtyProblem::Negative => "must not be negative",
            QtyProblem::TooManyDecimals => "has more decimals than the SKU's unit scale",
            QtyProblem::Overflow => "is too large",
        })
    }
}

impl Qty {
    /// Zero units.
    pub const ZERO: Qty = Qty {
        mantissa: 0,
        scale: 0,
    };

    /// Whole units.
    pub const fn units(n: i64) -> Qty {
        Qty {
            mantissa: n,
            scale: 0,
        }
    }

    /// An exact decimal; values that do not fit (more than 18 significant
    /// digits) become a quantity every operation refuses with `Overflow`.
    pub fn from_decimal(d: Decimal) -> Qty {
        let d = d.normalize();
        match i64::try_from(d.mantissa()) {
            Ok(m) if d.scale() <= 18 => Qty {
                mantissa: m,
                scale: d.scale() as u8,
            },
            _ => Qty {
                mantissa: 0,
                scale: INVALID_SCALE,
            },
        }
    }

    /// A quantity from a SKU's minor units.
    pub(crate) const fn from_minor(minor: i64, scale: u8) -> Qty {
        Qty {
            mantissa: minor,
            scale,
        }
    }

    /// The exact value as a `Decimal`.
    pub fn to_decimal(self) -> Decimal {
        if self.scale == INVALID_SCALE {
            return Decimal::MAX;
        }
        Decimal::new(self.mantissa, self.scale as u32)
    }

    /// Whole units, when the value is integral.
    pub fn as_units(self) -> Option<i64> {
        if self.scale == INVALID_SCALE {
            return None;
        }
        let p = POW10[self.scale as usize];
        (self.mantissa % p == 0).then_some(self.mantissa / p)
    }

    /// The integer the value is written with (`value = mantissa / 10^scale`).
    pub(crate) fn mantissa(self) -> i64 {
        self.mantissa
    }

    /// Decimals this quantity is written with (a SKU's unit scale for
    /// quantities the engine returns).
    pub fn scale(self) -> u8 {
        self.scale
    }

    /// True when the value is zero.
    pub fn is_zero(self) -> bool {
        self.mantissa == 0 && self.scale != INVALID_SCALE
    }

    /// Converts to minor units of a SKU with `sku_scale` decimals. Accepts
    /// zero and negatives; callers check the sign they need.
    pub(crate) fn to_minor(self, sku_scale: u8) -> Result<i64, QtyProblem> {
        if self.scale == INVALID_SCALE {
            return Err(QtyProblem::Overflow);
        }
        let (mut m, mut s) = (self.mantissa, self.scale);
        while s > sku_scale && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        if s > sku_scale {
            return Err(QtyProblem::TooManyDecimals);
        }
        let minor = m
            .checked_mul(POW10[(sku_scale - s) as usize])
            .ok_or(QtyProblem::Overflow)?;
        if minor.unsigned_abs() > MAX_MINOR as u64 {
            return Err(QtyProblem::Overflow);
        }
        Ok(minor)
    }

    /// Positive minor units, or why not.
    pub(crate) fn to_positive_minor(self, sku_scale: u8) -> Result<i64, QtyProblem> {
        match self.to_minor(sku_scale)? {
            m if m <= 0 => Err(QtyProblem::NotPositive),
            m => Ok(m),
        }
    }

    /// Zero-or-more minor units, or why not.
    pub(crate) fn to_nonneg_minor(self, sku_scale: u8) -> Result<i64, QtyProblem> {
        match self.to_minor(sku_scale)? {
            m if m < 0 => Err(QtyProblem::Negative),
            m => Ok(m),
        }
    }

    fn cmp_key(self) -> (i128, u32) {
        // Compare at a common scale of 18 decimals: exact for every valid Qty.
        if self.scale == INVALID_SCALE {
            return (i128::MAX, 0);
        }
        let widened = self.mantissa as i128 * 10i128.pow(18 - self.scale as u32);
        (widened, 0)
    }
}

impl PartialEq for Qty {
    fn eq(&self, other: &Self) -> bool {
        // At one scale the mantissas compare as the values do (the common
        // case: a part and the line it came from), without widening.
        if self.scale == other.scale && self.scale != INVALID_SCALE {
            return self.mantissa == other.mantissa;
        }
        self.cmp_key() == other.cmp_key()
    }
}
impl Eq for Qty {}
impl PartialOrd for Qty {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Qty {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.scale == other.scale && self.scale != INVALID_SCALE {
            return self.mantissa.cmp(&other.mantissa);
        }
        self.cmp_key().cmp(&other.cmp_key())
    }
}
impl Hash for Qty {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.cmp_key().hash(state)
    }
}

impl fmt::Display for Qty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale == INVALID_SCALE {
            return f.write_str("<out of range>");
        }
        fmt::Display::fmt(&self.to_decimal(), f)
    }
}

impl From<i64> for Qty {
    fn from(n: i64) -> Qty {
        Qty::units(n)
    }
}
impl From<i32> for Qty {
    fn from(n: i32) -> Qty {
        Qty::units(n as i64)
    }
}
impl From<u32> for Qty {
    fn from(n: u32) -> Qty {
        Qty::units(n as i64)
    }
}
impl From<u64> for Qty {
    fn from(n: u64) -> Qty {
        match i64::try_from(n) {
            Ok(v) => Qty::units(v),
            Err(_) => Qty {
                mantissa: 0,
                scale: INVALID_SCALE,
            },
        }
    }
}
impl From<Decimal> for Qty {
    fn from(d: Decimal) -> Qty {
        Qty::from_decimal(d)
    }
}

impl Serialize for Qty {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Qty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse::<Decimal>()
            .map(Qty::from_decimal)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses a percentage such as `12.5` into parts per million.
pub(crate) fn percent_to_ppm(pct: Decimal) -> Option<i64> {
    if pct.is_sign_negative() || pct > Decimal::ONE_HUNDRED {
        return None;
    }
    use rust_decimal::prelude::ToPrimitive;
    let ppm = pct * Decimal::from(10_000);
    if !ppm.fract().is_zero() {
        return None;
    }
    ppm.to_i64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn whole_units_scale_up_exactly() {
        assert_eq!(Qty::units(3).to_minor(0), Ok(3));
        assert_eq!(Qty::units(3).to_minor(3), Ok(3000));
    }

    #[test]
    fn decimals_need_a_fitting_scale() {
        assert_eq!(Qty::from(d("1.25")).to_minor(3), Ok(1250));
        assert_eq!(Qty::from(d("1.2500")).to_minor(2), Ok(125));
        assert_eq!(
            Qty::from(d("1.255")).to_minor(2),
            Err(QtyProblem::TooManyDecimals)
        );
        assert_eq!(
            Qty::from(d("0.5")).to_minor(0),
            Err(QtyProblem::TooManyDecimals)
        );
    }

    #[test]
    fn limits_and_signs() {
        assert_eq!(
            Qty::units(0).to_positive_minor(0),
            Err(QtyProblem::NotPositive)
        );
        assert_eq!(Qty::units(-1).to_nonneg_minor(0), Err(QtyProblem::Negative));
        assert_eq!(
            Qty::units(MAX_MINOR + 1).to_minor(0),
            Err(QtyProblem::Overflow)
        );
        assert_eq!(Qty::units(MAX_MINOR).to_minor(1), Err(QtyProblem::Overflow));
        assert_eq!(Qty::from(u64::MAX).to_minor(0), Err(QtyProblem::Overflow));
        assert_eq!(
            Qty::from(d("79228162514264337593543950335")).to_minor(0),
            Err(QtyProblem::Overflow)
        );
    }

    #[test]
    fn same_scale_compares_agree_with_widened_ones() {
        let qs = [
            Qty::from_minor(-7, 2),
            Qty::from_minor(0, 2),
            Qty::from_minor(5, 2),
            Qty::from_minor(500, 2),
            Qty::from_minor(i64::MAX, 2),
            Qty::from_minor(i64::MIN + 1, 2),
            Qty::units(5),
            Qty::units(-3),
            Qty::from_minor(5000, 3),
        ];
        for a in qs {
            for b in qs {
                let widened = a.cmp_key().cmp(&b.cmp_key());
                assert_eq!(a.cmp(&b), widened, "{a:?} {b:?}");
                assert_eq!(a == b, widened == Ordering::Equal, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn equality_is_by_value() {
        assert_eq!(Qty::from_minor(2000, 3), Qty::units(2));
        assert_eq!(Qty::from_minor(2000, 3).as_units(), Some(2));
        assert_eq!(Qty::from_minor(2500, 3).as_units(), None);
        assert!(Qty::from_minor(2500, 3) > Qty::units(2));
        assert_eq!(Qty::from_minor(2500, 3).to_string(), "2.500");
    }

    #[test]
    fn percent_parsing() {
        assert_eq!(percent_to_ppm(d("12.5")), Some(125_000));
        assert_eq!(percent_to_ppm(d("100")), Some(1_000_000));
        assert_eq!(percent_to_ppm(d("-1")), None);
        assert_eq!(percent_to_ppm(d("100.1")), None);
        assert_eq!(percent_to_ppm(d("0.00001")), None);
    }
}
