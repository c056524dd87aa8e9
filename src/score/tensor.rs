//! Conversions between faer f64 matrices (geometry) and candle f32 tensors (networks).

use crate::error::Result;
use candle_core::{DType, Device, Tensor};
use faer::{Mat, MatRef};

/// An n×D f64 matrix as an (n, D) f32 tensor on `device`.
pub fn mat_to_tensor(x: MatRef<'_, f64>, device: &Device) -> Result<Tensor> {
    let (n, d) = (x.nrows(), x.ncols());
    let mut v = Vec::with_capacity(n * d);
    for i in 0..n {
        v.extend((0..d).map(|j| x[(i, j)] as f32));
    }
    Ok(Tensor::from_vec(v, (n, d), device)?)
}

/// An (n, D) tensor of any float dtype as an n×D f64 matrix.
pub fn tensor_to_mat(t: &Tensor) -> Result<Mat<f64>> {
    let (n, d) = t.dims2()?;
    let v: Vec<f64> = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
    Ok(Mat::from_fn(n, d, |i, j| v[i * d + j]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = Mat::from_fn(3, 2, |i, j| (i * 2 + j) as f64 * 0.5);
        let t = mat_to_tensor(m.as_ref(), &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[3, 2]);
        let back = tensor_to_mat(&t).unwrap();
        assert_eq!(back, m);
    }
}
