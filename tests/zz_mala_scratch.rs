use scoregeo::data::synthetic::{generate, Kind, Params, ShearedGaussian};
#[test]
fn scratch() {
    for (kind, t) in [(Kind::River, ShearedGaussian::RIVER)] {
        for (thin, chains) in [(100, 256), (50, 512), (20, 1000), (1, 4000)] {
            let mut means = vec![];
            for seed in 0..8 {
                let p = Params { n: 4000, seed, thin: Some(thin), chains: Some(chains), ..Params::default() };
                let (d, m) = generate(kind, &p).unwrap();
                let phis: Vec<[f64; 2]> = d.rows().map(|x| t.phi([x[0], x[1]])).collect();
                let m2 = phis.iter().map(|y| y[1]).sum::<f64>() / 4000.0;
                let v2 = phis.iter().map(|y| y[1] * y[1]).sum::<f64>() / 4000.0;
                let v1 = phis.iter().map(|y| y[0] * y[0]).sum::<f64>() / 4000.0;
                means.push(format!("m2={m2:.3} v1={:.3} v2={:.3} acc={:.2} h={:.3}-{:.3}", v1 / t.variances()[0], v2 / t.variances()[1], m.details["acceptance_rate"].as_f64().unwrap(), m.details["step_min"].as_f64().unwrap(), m.details["step_max"].as_f64().unwrap()));
            }
            eprintln!("{kind} thin {thin} chains {chains}:\n  {}", means.join("\n  "));
        }
    }
}
