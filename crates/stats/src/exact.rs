//! Exact sums of `f64` values, so that a report merged from shards equals
//! the report of one pass over all rows bit for bit, whatever the order and
//! the cut points: floating-point addition is not associative, integer
//! addition is.
//!
//! Every finite `f64` is an integer multiple of 2^-1074 (the smallest
//! subnormal), and every product of two of them a multiple of 2^-2148. An
//! [`ExactSum`] holds Σ x (or Σ x²) as a fixed-point integer in that unit,
//! in 64-bit digits kept in `i128` limbs: an addition touches two limbs and
//! needs no carry until 2^63 values have been added (the idea of Kulisch's
//! long accumulator). A figure is computed from the exact sums when it is
//! read (the sum rounded once; a mean or deviation with a few roundings
//! after that, the same on every run and for any split of the rows).

use num_bigint::{BigInt, Sign};
use num_traits::{ToPrimitive, Zero};

/// The unit of a sum of values (2^-1074) and of a sum of squares (2^-2148).
const VALUE_SCALE: u32 = 1074;
const SQUARE_SCALE: u32 = 2 * VALUE_SCALE;
/// Limbs for all values up to f64::MAX and 2^63 additions (64 bits of headroom).
const VALUE_LIMBS: usize = (VALUE_SCALE as usize + 1024 + 64) / 64 + 2;
const SQUARE_LIMBS: usize = (SQUARE_SCALE as usize + 2048 + 64) / 64 + 2;

/// Σ x or Σ x² over finite `f64`s, exactly.
#[derive(Clone, Debug)]
pub struct ExactSum {
    /// value = Σ limbs[i] · 2^(64 i) · 2^-scale
    limbs: Vec<i128>,
    scale: u32,
}

/// Equal sums: the same value in the same unit (the limbs of one value
/// differ between an accumulator and one read from text).
impl PartialEq for ExactSum {
    fn eq(&self, other: &Self) -> bool {
        self.scale == other.scale && self.to_bigint() == other.to_bigint()
    }
}

/// A finite `f64` as sign, integer mantissa and the position of its lowest
/// bit in units of 2^-1074: |x| = m · 2^(p - 1074).
fn decompose(x: f64) -> (bool, u64, u32) {
    let bits = x.to_bits();
    let negative = bits >> 63 == 1;
    let exponent = ((bits >> 52) & 0x7ff) as u32;
    let fraction = bits & ((1 << 52) - 1);
    if exponent == 0 {
        (negative, fraction, 0)
    } else {
        (negative, fraction | 1 << 52, exponent - 1)
    }
}

impl ExactSum {
    /// An empty sum of values.
    pub fn values() -> Self {
        ExactSum {
            limbs: vec![0; VALUE_LIMBS],
            scale: VALUE_SCALE,
        }
    }

    /// An empty sum of squares.
    pub fn squares() -> Self {
        ExactSum {
            limbs: vec![0; SQUARE_LIMBS],
            scale: SQUARE_SCALE,
        }
    }

    /// Adds ±`magnitude` · 2^`position` units.
    fn add_at(&mut self, negative: bool, magnitude: u64, position: u32) {
        let (limb, shift) = ((position / 64) as usize, position % 64);
        let v = u128::from(magnitude) << shift;
        let (lo, hi) = (i128::from(v as u64), i128::from((v >> 64) as u64));
        if negative {
            self.limbs[limb] -= lo;
            self.limbs[limb + 1] -= hi;
        } else {
            self.limbs[limb] += lo;
            self.limbs[limb + 1] += hi;
        }
    }

    /// Adds `x` (a sum of values). Non-finite values are not summed: the
    /// callers take numbers from JSON, which has none.
    pub fn add(&mut self, x: f64) {
        debug_assert_eq!(self.scale, VALUE_SCALE);
        if x.is_finite() {
            let (negative, m, p) = decompose(x);
            self.add_at(negative, m, p);
        }
    }

    /// Adds `x`² (a sum of squares).
    pub fn add_square(&mut self, x: f64) {
        debug_assert_eq!(self.scale, SQUARE_SCALE);
        if x.is_finite() {
            let (_, m, p) = decompose(x);
            let square = u128::from(m) * u128::from(m);
            self.add_at(false, square as u64, 2 * p);
            self.add_at(false, (square >> 64) as u64, 2 * p + 64);
        }
    }

    pub fn merge(&mut self, other: &ExactSum) {
        debug_assert_eq!(self.scale, other.scale);
        for (a, b) in self.limbs.iter_mut().zip(&other.limbs) {
            *a += b;
        }
    }

    /// The sum as an integer count of units.
    pub fn to_bigint(&self) -> BigInt {
        self.limbs
            .iter()
            .enumerate()
            .rev()
            .fold(BigInt::zero(), |acc, (i, &l)| {
                acc + (BigInt::from(l) << (64 * i))
            })
    }

    /// The sum rounded to the nearest `f64`.
    pub fn to_f64(&self) -> f64 {
        round_scaled(&self.to_bigint(), self.scale)
    }
}

impl ExactSum {
    /// The sum as text that [`ExactSum::parse`] reads back: a hexadecimal
    /// integer times a power of two, e.g. `-0x3p-1` for -1.5.
    pub fn to_text(&self) -> String {
        let n = self.to_bigint();
        let sign = if n.sign() == Sign::Minus { "-" } else { "" };
        let zeros = n.magnitude().trailing_zeros().unwrap_or(0);
        let digits = n.magnitude() >> zeros;
        let exponent = i64::try_from(zeros).expect("a few thousand bits") - i64::from(self.scale);
        format!("{sign}0x{}p{exponent}", digits.to_str_radix(16))
    }

    /// Reads [`ExactSum::to_text`]'s form into a sum of values (`squares`
    /// false) or of squares; None when it is not that form or not a
    /// multiple of the sum's unit.
    pub fn parse(text: &str, squares: bool) -> Option<ExactSum> {
        let mut sum = if squares {
            ExactSum::squares()
        } else {
            ExactSum::values()
        };
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (digits, exponent) = rest.strip_prefix("0x")?.split_once('p')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let shift = exponent
            .parse::<i64>()
            .ok()?
            .checked_add(i64::from(sum.scale))?;
        let shift = u64::try_from(shift).ok()?;
        if shift > 64 * sum.limbs.len() as u64 {
            return None;
        }
        let magnitude = num_bigint::BigUint::parse_bytes(digits.as_bytes(), 16)? << shift;
        let words = magnitude.to_u64_digits();
        if words.len() >= sum.limbs.len() {
            return None;
        }
        for (limb, w) in sum.limbs.iter_mut().zip(words) {
            *limb = if negative {
                -i128::from(w)
            } else {
                i128::from(w)
            };
        }
        Some(sum)
    }
}

/// `n` · 2^-`scale` rounded to the nearest `f64` (ties to even; a result in
/// the subnormal range may be off by one unit, the same in every pass).
pub fn round_scaled(n: &BigInt, scale: u32) -> f64 {
    if n.is_zero() {
        return 0.0;
    }
    let magnitude = n.magnitude();
    let bits = magnitude.bits();
    // The top 64 bits, with a sticky bit for anything below them, round
    // correctly to 53.
    let shift = bits.saturating_sub(64);
    let mut top = (magnitude >> shift).to_u64().expect("64 bits");
    if shift > 0 && magnitude.trailing_zeros().is_some_and(|z| z < shift) {
        top |= 1;
    }
    let value = ldexp(top as f64, shift as i64 - i64::from(scale));
    if n.sign() == Sign::Minus {
        -value
    } else {
        value
    }
}

/// `x` · 2^`e`, in steps that stay within the exponent range.
fn ldexp(mut x: f64, mut e: i64) -> f64 {
    let step = |k: i64| f64::from_bits(((1023 + k) as u64) << 52);
    while e > 1000 {
        x *= step(1000);
        e -= 1000;
    }
    while e < -1000 {
        x *= step(-1000);
        e += 1000;
    }
    x * step(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_exact_whatever_the_order() {
        let xs = [
            1e16,
            1.0,
            -1e16,
            0.1,
            0.2,
            -0.3,
            5e-324,
            f64::MAX,
            -f64::MAX,
        ];
        let mut forward = ExactSum::values();
        xs.iter().for_each(|&x| forward.add(x));
        let mut backward = ExactSum::values();
        xs.iter().rev().for_each(|&x| backward.add(x));
        assert_eq!(forward, backward);
        // Exactly 1 + 2^-55 (0.1 + 0.2 - 0.3 as binary values) + 2^-1074,
        // which rounds to 1; adding in order loses the 1 to 1e16.
        let naive: f64 = xs.iter().sum();
        assert_eq!(forward.to_f64(), 1.0);
        assert_ne!(naive, 1.0);
        let mut rest = ExactSum::values();
        rest.add(0.1);
        rest.add(0.2);
        rest.add(-0.3);
        assert_eq!(rest.to_f64(), 2f64.powi(-55));
    }

    #[test]
    fn a_sum_rounds_like_the_exact_value() {
        let mut s = ExactSum::values();
        for x in [0.1, 0.2, 0.3] {
            s.add(x);
        }
        // 0.1 + 0.2 + 0.3 (as binary values) is 0.6000000000000000055…, nearest 0.6.
        assert_eq!(s.to_f64(), 0.6);
        let mut neg = ExactSum::values();
        neg.add(-2.5);
        assert_eq!(neg.to_f64(), -2.5);
        assert_eq!(ExactSum::values().to_f64(), 0.0);
    }

    #[test]
    fn squares_are_exact() {
        let mut q = ExactSum::squares();
        for x in [0.1, -0.1, 3.0] {
            q.add_square(x);
        }
        assert_eq!(q.to_f64(), 0.1 * 0.1 * 2.0 + 9.0);
        let mut tiny = ExactSum::squares();
        tiny.add_square(1e-200);
        assert_eq!(tiny.to_f64(), 0.0, "below the smallest f64");
        assert!(!tiny.to_bigint().is_zero(), "but not lost");
    }

    #[test]
    fn text_round_trips() {
        let mut s = ExactSum::values();
        for x in [-0.75, 1e-310, 12345.678] {
            s.add(x);
        }
        let t = s.to_text();
        assert_eq!(ExactSum::parse(&t, false), Some(s.clone()));
        assert_eq!(
            ExactSum::parse("0x1p-1075", false),
            None,
            "finer than the unit"
        );
        for bad in [
            "0x12",
            "0xzzp-1074",
            "0xp-1074",
            "12p-1074",
            "0x+1p0",
            "0x1p99999",
            "0x1p9223372036854775807",
            "",
        ] {
            assert_eq!(ExactSum::parse(bad, false), None, "{bad}");
        }
        let mut neg = ExactSum::values();
        neg.add(-1.5);
        assert_eq!(neg.to_text(), "-0x3p-1");
        assert_eq!(ExactSum::values().to_text(), "0x0p-1074");
        assert_eq!(ExactSum::parse(&neg.to_text(), false), Some(neg));
        let mut q = ExactSum::squares();
        q.add_square(-0.3);
        assert_eq!(ExactSum::parse(&q.to_text(), true), Some(q));
    }
}
