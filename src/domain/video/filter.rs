//! The image filters: the table of every filter with its parameters ([`FILTERS`], which
//! `ListFilters` serves and [`parse_filter`] reads), and the [`Filter`] it makes.
//! ([`super::Processor`] applies one to the frames of a stream.)

use std::{collections::BTreeMap, fmt};

use super::Limits;
use crate::domain::quote::quote;

/// One parameter of a filter: its name, range, default and meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Its name.
    pub name: &'static str,
    /// The smallest value accepted.
    pub min: f64,
    /// The largest value accepted.
    pub max: f64,
    /// The value when none is given.
    pub default: f64,
    /// What it does, with its unit.
    pub description: &'static str,
}

/// A filter: its name, what it does, its parameters, and how the parameters' values
/// make a [`Filter`].
#[derive(Debug, Clone)]
pub struct FilterSpec {
    /// Its name.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Its parameters.
    pub params: &'static [ParamSpec],
    /// The filter from its parameters' values, in the order of `params`, each already
    /// checked against its range.
    build: fn(&[f64]) -> Result<Filter, FilterError>,
}

const fn param(
    name: &'static str,
    min: f64,
    max: f64,
    default: f64,
    description: &'static str,
) -> ParamSpec {
    ParamSpec {
        name,
        min,
        max,
        default,
        description,
    }
}

/// Every filter, as `ListFilters` lists them and [`parse_filter`] takes them.
pub static FILTERS: [FilterSpec; 7] = [
    FilterSpec {
        name: "grayscale",
        description: "luma (ITU-R BT.709 weights: 0.2126 R + 0.7152 G + 0.0722 B; for a JPEG frame, the file's own luma plane, BT.601)",
        params: &[],
        build: |_| Ok(Filter::Grayscale),
    },
    FilterSpec {
        name: "gaussian_blur",
        description: "Gaussian blur, kernel radius ceil(2 sigma), edge pixels repeated at the borders",
        params: &[param("sigma", 0.1, 50.0, 2.0, "standard deviation, pixels")],
        build: |v| Ok(Filter::GaussianBlur { sigma: v[0] as f32 }),
    },
    FilterSpec {
        name: "edges",
        description: "Canny edges (Canny 1986) after a Gaussian blur of sigma 1.4, white on black",
        params: &[
            param(
                "low",
                0.0,
                1140.0,
                50.0,
                "low hysteresis threshold, gradient magnitude",
            ),
            param(
                "high",
                0.0,
                1140.0,
                100.0,
                "high hysteresis threshold, gradient magnitude (>= low)",
            ),
        ],
        build: |v| {
            let (low, high) = (v[0], v[1]);
            if low > high {
                return Err(FilterError::params(format!(
                    "edges.low ({low}) must not exceed edges.high ({high})"
                )));
            }
            Ok(Filter::Canny {
                low: low as f32,
                high: high as f32,
            })
        },
    },
    FilterSpec {
        name: "sobel",
        description: "Sobel gradient magnitude sqrt(gx^2 + gy^2), clamped to 255",
        params: &[],
        build: |_| Ok(Filter::Sobel),
    },
    FilterSpec {
        name: "invert",
        description: "negative: every channel c becomes 255 - c",
        params: &[],
        build: |_| Ok(Filter::Invert),
    },
    FilterSpec {
        name: "resize",
        description: "resize to exactly width x height (bilinear interpolation, as OpenCV's INTER_LINEAR)",
        params: &[
            param("width", 1.0, 7680.0, 320.0, "output width, pixels"),
            param("height", 1.0, 4320.0, 240.0, "output height, pixels"),
        ],
        build: |v| {
            Ok(Filter::Resize {
                width: v[0] as u32,
                height: v[1] as u32,
            })
        },
    },
    FilterSpec {
        name: "motion",
        description: "what changed since the previous frame of the stream: white where the gray level moved by more than threshold (the first frame is all black)",
        params: &[param("threshold", 0.0, 255.0, 25.0, "gray levels")],
        build: |v| {
            Ok(Filter::Motion {
                threshold: v[0] as u8,
            })
        },
    },
];

/// A filter with its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Filter {
    /// Luma.
    Grayscale,
    /// Gaussian blur.
    GaussianBlur {
        /// Standard deviation, pixels (> 0).
        sigma: f32,
    },
    /// Canny edges (J. Canny, "A Computational Approach to Edge Detection", IEEE PAMI
    /// 1986), as [`kernels::canny`](super::kernels::canny) computes them.
    Canny {
        /// Low hysteresis threshold, gradient magnitude.
        low: f32,
        /// High hysteresis threshold, gradient magnitude (>= low).
        high: f32,
    },
    /// Sobel gradient magnitude.
    Sobel,
    /// Negative.
    Invert,
    /// Resize to exactly this size.
    Resize {
        /// Output width, pixels.
        width: u32,
        /// Output height, pixels.
        height: u32,
    },
    /// Difference with the previous frame.
    Motion {
        /// Gray levels a pixel must move by to count as motion.
        threshold: u8,
    },
}

/// Why a filter configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// The field at fault: `"filter"` or `"params"`.
    pub field: &'static str,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl FilterError {
    fn params(message: String) -> Self {
        Self {
            field: "params",
            message,
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FilterError {}

/// The filter `name` of [`FILTERS`] with `params` (missing ones take their defaults).
///
/// # Errors
/// [`FilterError`] for an unknown filter, an unknown parameter, or a value out of range.
pub fn parse_filter(name: &str, params: &BTreeMap<String, f64>) -> Result<Filter, FilterError> {
    let spec = FILTERS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| FilterError {
            field: "filter",
            message: format!(
                "unknown filter {}; the filters are: {}",
                quote(name),
                FILTERS
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    if let Some(key) = params
        .keys()
        .find(|key| !spec.params.iter().any(|p| p.name == key.as_str()))
    {
        return Err(FilterError::params(format!(
            "filter {name} has no parameter {}",
            quote(key)
        )));
    }
    let values = spec
        .params
        .iter()
        .map(|p| {
            let value = params.get(p.name).copied().unwrap_or(p.default);
            if (p.min..=p.max).contains(&value) {
                Ok(value)
            } else {
                Err(FilterError::params(format!(
                    "{name}.{} is {value}; it must be {} to {} ({})",
                    p.name, p.min, p.max, p.description
                )))
            }
        })
        .collect::<Result<Vec<f64>, _>>()?;
    (spec.build)(&values)
}

impl Filter {
    /// True when a frame's result depends on the frames before it (motion): such a
    /// stream must be processed one frame at a time, in order. Every other filter
    /// works on each frame alone, so frames may be processed in parallel.
    pub fn is_sequential(&self) -> bool {
        matches!(self, Filter::Motion { .. })
    }

    /// True when the filter starts by taking the picture's gray (grayscale, edges,
    /// sobel, motion): a JPEG frame's luma plane is all it needs
    /// ([`super::decode_for`]).
    pub fn works_in_gray(&self) -> bool {
        matches!(
            self,
            Filter::Grayscale | Filter::Canny { .. } | Filter::Sobel | Filter::Motion { .. }
        )
    }

    /// Checks that the filter's output fits `limits` (a resize may ask for more pixels
    /// than a frame may have).
    ///
    /// # Errors
    /// [`FilterError`] on `params` when the output would be over `limits.max_pixels`.
    pub fn check_limits(&self, limits: &Limits) -> Result<(), FilterError> {
        if let Filter::Resize { width, height } = *self {
            let pixels = u64::from(width) * u64::from(height);
            if pixels > limits.max_pixels {
                return Err(FilterError::params(format!(
                    "resize to {width} x {height} = {pixels} pixels; frames may have at most {}",
                    limits.max_pixels
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_is_checked_against_the_frame_limits_and_motion_is_sequential() {
        let limits = Limits::default();
        assert!(
            Filter::Resize {
                width: 3840,
                height: 2160
            }
            .check_limits(&limits)
            .is_ok()
        );
        let err = Filter::Resize {
            width: 7680,
            height: 4320,
        }
        .check_limits(&limits)
        .unwrap_err();
        assert_eq!(err.field, "params");
        assert!(err.message.contains("33177600 pixels"), "{err}");
        assert!(Filter::Motion { threshold: 1 }.is_sequential());
        assert!(!Filter::Sobel.is_sequential());
    }

    #[test]
    fn filter_configuration_is_checked() {
        let none = BTreeMap::new();
        assert_eq!(parse_filter("invert", &none), Ok(Filter::Invert));
        assert_eq!(
            parse_filter("gaussian_blur", &none),
            Ok(Filter::GaussianBlur { sigma: 2.0 })
        );
        let err = parse_filter("sepia", &none).unwrap_err();
        assert_eq!(err.field, "filter");
        assert!(err.message.contains("grayscale, gaussian_blur"), "{err}");
        let params = |k: &str, v: f64| BTreeMap::from([(k.to_owned(), v)]);
        assert_eq!(
            parse_filter("gaussian_blur", &params("sigma", 0.0))
                .unwrap_err()
                .field,
            "params"
        );
        assert_eq!(
            parse_filter("resize", &params("width", 100_000.0))
                .unwrap_err()
                .field,
            "params"
        );
        assert_eq!(
            parse_filter("invert", &params("strength", 1.0))
                .unwrap_err()
                .field,
            "params"
        );
        let canny = BTreeMap::from([("low".to_owned(), 90.0), ("high".to_owned(), 10.0)]);
        assert!(
            parse_filter("edges", &canny)
                .unwrap_err()
                .message
                .contains("must not exceed")
        );
        // Every declared default is accepted.
        for spec in &FILTERS {
            assert!(parse_filter(spec.name, &none).is_ok(), "{}", spec.name);
        }
    }
}
