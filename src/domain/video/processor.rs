//! The pixel work: a [`Processor`] applies one [`Filter`] to the frames of one stream,
//! with the video [`kernels`] (luma, blur, Sobel, Canny, bilinear resize).

use std::borrow::Cow;

use image::{DynamicImage, GrayImage, RgbImage};

use super::{Filter, kernels};

/// Applies one filter to the frames of one stream, in order.
#[derive(Debug, Clone)]
pub struct Processor {
    filter: Filter,
    /// The previous frame in gray, for the motion filter.
    previous: Option<GrayImage>,
}

impl Processor {
    /// A processor for a new stream.
    pub fn new(filter: Filter) -> Self {
        Self {
            filter,
            previous: None,
        }
    }

    /// The filter applied to `picture`.
    pub fn process(&mut self, picture: &DynamicImage) -> DynamicImage {
        let (width, height) = (picture.width() as usize, picture.height() as usize);
        match self.filter {
            Filter::Grayscale => DynamicImage::ImageLuma8(gray_of(picture).into_owned()),
            Filter::GaussianBlur { sigma } => match picture {
                DynamicImage::ImageLuma8(gray) => {
                    let blurred = kernels::gaussian_blur(gray, width, height, 1, sigma);
                    DynamicImage::ImageLuma8(gray_image(picture, blurred))
                }
                other => {
                    let rgb = rgb_of(other);
                    let blurred = kernels::gaussian_blur(&rgb, width, height, 3, sigma);
                    DynamicImage::ImageRgb8(
                        RgbImage::from_raw(picture.width(), picture.height(), blurred)
                            .expect("a blur keeps the size"),
                    )
                }
            },
            Filter::Canny { low, high } => {
                let edges = kernels::canny(&gray_of(picture), width, height, low, high);
                DynamicImage::ImageLuma8(gray_image(picture, edges))
            }
            Filter::Sobel => {
                let magnitude = kernels::sobel_magnitude(&gray_of(picture), width, height);
                DynamicImage::ImageLuma8(gray_image(picture, magnitude))
            }
            Filter::Invert => {
                let mut inverted = picture.clone();
                inverted.invert();
                inverted
            }
            Filter::Resize {
                width: to_width,
                height: to_height,
            } => resize(picture, to_width, to_height),
            Filter::Motion { threshold } => {
                let gray = gray_of(picture).into_owned();
                let moved = match &self.previous {
                    Some(previous) if previous.dimensions() == gray.dimensions() => {
                        let changed = gray
                            .iter()
                            .zip(previous.iter())
                            .map(|(a, b)| if a.abs_diff(*b) > threshold { 255 } else { 0 })
                            .collect();
                        gray_image(picture, changed)
                    }
                    // The first frame, or a change of size: nothing to compare with.
                    _ => GrayImage::new(gray.width(), gray.height()),
                };
                self.previous = Some(gray);
                DynamicImage::ImageLuma8(moved)
            }
        }
    }
}

/// The picture in gray: itself when it is 8-bit gray, else its BT.709 luma.
fn gray_of(picture: &DynamicImage) -> Cow<'_, GrayImage> {
    match picture {
        DynamicImage::ImageLuma8(gray) => Cow::Borrowed(gray),
        other => {
            let rgb = rgb_of(other);
            Cow::Owned(gray_image(picture, kernels::luma_of(&rgb)))
        }
    }
}

/// The picture as RGB8 bytes: borrowed when it already is.
fn rgb_of(picture: &DynamicImage) -> Cow<'_, [u8]> {
    match picture {
        DynamicImage::ImageRgb8(rgb) => Cow::Borrowed(rgb.as_raw()),
        other => Cow::Owned(other.to_rgb8().into_raw()),
    }
}

/// `pixels` as a gray picture the size of `like`.
fn gray_image(like: &DynamicImage, pixels: Vec<u8>) -> GrayImage {
    GrayImage::from_raw(like.width(), like.height(), pixels).expect("one byte per pixel")
}

/// The picture resized to exactly `width` x `height` by bilinear interpolation: each
/// output pixel blends the 2 x 2 source pixels around its centre, as OpenCV's
/// `INTER_LINEAR` does; shrinking by more than 2x skips pixels rather than averaging
/// them ([`kernels::bilinear`]). Gray stays gray; anything else becomes RGB8.
fn resize(picture: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    let (source, channels) = match picture {
        DynamicImage::ImageLuma8(gray) => (Cow::Borrowed(gray.as_raw().as_slice()), 1),
        other => (rgb_of(other), 3),
    };
    let from = (picture.width() as usize, picture.height() as usize);
    let pixels = kernels::bilinear(&source, from, channels, (width as usize, height as usize));
    if channels == 1 {
        DynamicImage::ImageLuma8(
            GrayImage::from_raw(width, height, pixels).expect("one byte per pixel"),
        )
    } else {
        DynamicImage::ImageRgb8(
            RgbImage::from_raw(width, height, pixels).expect("three bytes per pixel"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 8) as u8, 128])
        })
    }

    #[test]
    fn filters_match_their_kernels_and_known_pixels() {
        let rgb = DynamicImage::ImageRgb8(gradient(32, 24));
        let run = |filter| Processor::new(filter).process(&rgb);
        let gray = run(Filter::Grayscale).to_luma8();
        // BT.709 luma, within one level of the image crate's.
        let worst = gray
            .iter()
            .zip(rgb.to_luma8().iter())
            .map(|(a, b)| a.abs_diff(*b))
            .max();
        assert!(worst <= Some(1), "{worst:?}");
        let inverted = run(Filter::Invert).to_rgb8();
        assert_eq!(inverted.get_pixel(3, 2).0, [255 - 24, 255 - 16, 127]);
        let blurred = run(Filter::GaussianBlur { sigma: 1.5 });
        assert_eq!(
            blurred.to_rgb8().into_raw(),
            kernels::gaussian_blur(rgb.as_bytes(), 32, 24, 3, 1.5)
        );
        let edges = run(Filter::Canny {
            low: 10.0,
            high: 30.0,
        });
        assert_eq!(
            edges.to_luma8().into_raw(),
            kernels::canny(gray.as_raw(), 32, 24, 10.0, 30.0)
        );
        // Gray pictures stay gray through the blur and the resize.
        let gray_picture = DynamicImage::ImageLuma8(gray.clone());
        let blurred_gray =
            Processor::new(Filter::GaussianBlur { sigma: 1.0 }).process(&gray_picture);
        assert!(matches!(blurred_gray, DynamicImage::ImageLuma8(_)));
        let resized = run(Filter::Resize {
            width: 8,
            height: 6,
        });
        assert_eq!((resized.width(), resized.height()), (8, 6));
        // Sobel on a flat picture is zero everywhere.
        let flat = DynamicImage::ImageLuma8(GrayImage::from_pixel(16, 16, image::Luma([90])));
        let sobel = Processor::new(Filter::Sobel).process(&flat).to_luma8();
        assert!(sobel.pixels().all(|p| p[0] == 0));
    }

    #[test]
    fn every_filter_takes_tiny_and_odd_frames() {
        for (width, height) in [(1, 1), (1, 5), (5, 1), (3, 2), (7, 9)] {
            let pixels = kernels::random_image(
                u64::from(width * 10 + height),
                (width * height * 3) as usize,
            );
            let rgb =
                DynamicImage::ImageRgb8(RgbImage::from_raw(width, height, pixels.clone()).unwrap());
            let gray = DynamicImage::ImageLuma8(
                GrayImage::from_raw(width, height, pixels[..(width * height) as usize].to_vec())
                    .unwrap(),
            );
            for spec in &crate::domain::video::FILTERS {
                let filter =
                    crate::domain::video::parse_filter(spec.name, &Default::default()).unwrap();
                for picture in [&rgb, &gray] {
                    let out = Processor::new(filter).process(picture);
                    let expected = match filter {
                        Filter::Resize { width, height } => (width, height),
                        _ => (picture.width(), picture.height()),
                    };
                    assert_eq!(
                        (out.width(), out.height()),
                        expected,
                        "{} on {width} x {height}",
                        spec.name
                    );
                }
            }
        }
    }

    #[test]
    fn resize_is_bilinear_interpolation() {
        let (rgb, width, height) = kernels::fixture();
        let photo = RgbImage::from_raw(width as u32, height as u32, rgb).unwrap();
        for (to_width, to_height) in [(80, 60), (320, 240), (1, 1), (161, 7), (7, 161)] {
            let ours = Processor::new(Filter::Resize {
                width: to_width,
                height: to_height,
            })
            .process(&DynamicImage::ImageRgb8(photo.clone()))
            .to_rgb8();
            let size = (width, height);
            let to = (to_width as usize, to_height as usize);
            let reference: Vec<u8> = kernels::bilinear_reference(photo.as_raw(), size, 3, to)
                .iter()
                .map(|v| v.round() as u8)
                .collect();
            // Fixed-point weights, rounded once: within 1 gray level.
            let worst = ours
                .iter()
                .zip(reference.iter())
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            assert!(
                worst <= 1,
                "{to_width} x {to_height}: worst difference {worst}"
            );
        }
    }

    #[test]
    fn motion_shows_what_changed_since_the_previous_frame() {
        let mut motion = Processor::new(Filter::Motion { threshold: 25 });
        let still = GrayImage::from_pixel(10, 10, image::Luma([100]));
        let mut moved = still.clone();
        moved.put_pixel(4, 5, image::Luma([200]));
        moved.put_pixel(6, 6, image::Luma([110])); // below the threshold
        let first = motion
            .process(&DynamicImage::ImageLuma8(still.clone()))
            .to_luma8();
        assert!(
            first.pixels().all(|p| p[0] == 0),
            "nothing to compare the first frame with"
        );
        let second = motion.process(&DynamicImage::ImageLuma8(moved)).to_luma8();
        let white: Vec<_> = second
            .enumerate_pixels()
            .filter(|(_, _, p)| p[0] == 255)
            .map(|(x, y, _)| (x, y))
            .collect();
        assert_eq!(white, [(4, 5)]);
    }
}
