//! Local GPUs: per-GPU utilisation, memory used and total, power and
//! temperature.
//!
//! Sources, in order: NVML through nvml-wrapper, which loads
//! `libnvidia-ml` at run time (`Nvml::init` fails cleanly where the
//! library is missing, so the binary needs no NVIDIA driver to start);
//! else `nvidia-smi --query-gpu=… --format=csv,noheader,nounits` when it
//! is on `PATH`; else [`detect`] returns the one note to print, and the run
//! goes on without GPU figures. `INFERLOAD_NO_NVML=1` skips NVML (tests
//! drive the `nvidia-smi` path with a fake script on `PATH`).
//!
//! Series per GPU `i`: `gpu{i}.utilization` (percent), `gpu{i}.memory_used`
//! and `gpu{i}.memory_total` (bytes), `gpu{i}.memory` (percent used),
//! `gpu{i}.power` (watts), `gpu{i}.temperature` (°C).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::Nvml;

use super::{Reading, Role, Sampler};

/// The query asked of `nvidia-smi`, in column order.
pub const QUERY: &str = "index,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu";

/// How long one `nvidia-smi` call may take.
const SMI_TIMEOUT: Duration = Duration::from_secs(5);

/// One GPU's figures; `None` where the device does not report one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuReading {
    pub index: u32,
    pub utilization_pct: Option<f64>,
    pub memory_used_bytes: Option<f64>,
    pub memory_total_bytes: Option<f64>,
    pub power_w: Option<f64>,
    pub temperature_c: Option<f64>,
}

impl GpuReading {
    fn readings(&self, out: &mut Vec<Reading>) {
        let i = self.index;
        let mut put = |name: &str, unit: &'static str, v: Option<f64>, role: Option<Role>| {
            if let Some(v) = v {
                out.push(Reading::new(format!("gpu{i}.{name}"), unit, v, role));
            }
        };
        put("utilization", "percent", self.utilization_pct, Some(Role::GpuUtil));
        put(
            "memory_used",
            "bytes",
            self.memory_used_bytes,
            Some(Role::GpuMemoryUsed),
        );
        put("memory_total", "bytes", self.memory_total_bytes, None);
        let pct = match (self.memory_used_bytes, self.memory_total_bytes) {
            (Some(u), Some(t)) if t > 0.0 => Some(u / t * 100.0),
            _ => None,
        };
        put("memory", "percent", pct, Some(Role::GpuMemory));
        put("power", "watts", self.power_w, None);
        put("temperature", "celsius", self.temperature_c, None);
    }
}

/// Finds a GPU source, or says (once) why there is none.
pub async fn detect() -> Result<Box<dyn Sampler>, String> {
    let nvml_note = if std::env::var_os("INFERLOAD_NO_NVML").is_some() {
        "NVML skipped (INFERLOAD_NO_NVML)".to_string()
    } else {
        match tokio::task::spawn_blocking(Nvml::init).await {
            Ok(Ok(nvml)) => match nvml.device_count() {
                Ok(n) if n > 0 => return Ok(Box::new(NvmlSampler { nvml: Arc::new(nvml) })),
                Ok(_) => "NVML found no GPU".to_string(),
                Err(e) => format!("NVML: {e}"),
            },
            Ok(Err(nvml_wrapper::error::NvmlError::LibloadingError(_))) => "no NVML library (libnvidia-ml)".to_string(),
            Ok(Err(e)) => format!("NVML: {e}"),
            Err(e) => format!("NVML: {e}"),
        }
    };
    match tokio::task::spawn_blocking(run_smi).await.map_err(|e| e.to_string())? {
        Ok(rows) if !rows.is_empty() => Ok(Box::new(SmiSampler)),
        Ok(_) => Err(format!(
            "GPU use is not measured: {nvml_note}, and nvidia-smi listed no GPU"
        )),
        Err(SmiError::Missing) => Err(format!(
            "GPU use is not measured: {nvml_note}, and no nvidia-smi on PATH"
        )),
        Err(SmiError::Failed(e)) => Err(format!("GPU use is not measured: {nvml_note}; nvidia-smi: {e}")),
    }
}

/// NVML, loaded at run time.
pub struct NvmlSampler {
    nvml: Arc<Nvml>,
}

impl Sampler for NvmlSampler {
    fn source(&self) -> String {
        "gpu (nvml)".into()
    }

    fn sample(&mut self) -> BoxFuture<'_, Result<Vec<Reading>, String>> {
        let nvml = self.nvml.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let n = nvml.device_count().map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                for index in 0..n {
                    let Ok(d) = nvml.device_by_index(index) else { continue };
                    let mem = d.memory_info().ok();
                    GpuReading {
                        index,
                        utilization_pct: d.utilization_rates().ok().map(|u| f64::from(u.gpu)),
                        memory_used_bytes: mem.as_ref().map(|m| m.used as f64),
                        memory_total_bytes: mem.as_ref().map(|m| m.total as f64),
                        power_w: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
                        temperature_c: d.temperature(TemperatureSensor::Gpu).ok().map(f64::from),
                    }
                    .readings(&mut out);
                }
                Ok(out)
            })
            .await
            .map_err(|e| e.to_string())?
        })
    }
}

/// `nvidia-smi`, called once per tick.
pub struct SmiSampler;

impl Sampler for SmiSampler {
    fn source(&self) -> String {
        "gpu (nvidia-smi)".into()
    }

    fn sample(&mut self) -> BoxFuture<'_, Result<Vec<Reading>, String>> {
        Box::pin(async move {
            let rows = tokio::task::spawn_blocking(run_smi)
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| match e {
                    SmiError::Missing => "nvidia-smi is gone from PATH".to_string(),
                    SmiError::Failed(e) => e,
                })?;
            let mut out = Vec::new();
            for r in rows {
                r.readings(&mut out);
            }
            Ok(out)
        })
    }
}

#[derive(Debug)]
enum SmiError {
    Missing,
    Failed(String),
}

fn run_smi() -> Result<Vec<GpuReading>, SmiError> {
    let mut child = Command::new("nvidia-smi")
        .arg(format!("--query-gpu={QUERY}"))
        .arg("--format=csv,noheader,nounits")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SmiError::Missing,
            _ => SmiError::Failed(e.to_string()),
        })?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > SMI_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SmiError::Failed(format!("no answer within {}s", SMI_TIMEOUT.as_secs())));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(SmiError::Failed(e.to_string())),
        }
    }
    let out = child.wait_with_output().map_err(|e| SmiError::Failed(e.to_string()))?;
    if !out.status.success() {
        return Err(SmiError::Failed(format!("exited with {}", out.status)));
    }
    Ok(parse_smi_csv(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `nvidia-smi --query-gpu=QUERY --format=csv[,noheader][,nounits]`:
/// a header line and unit suffixes (`45 %`, `1024 MiB`, `250.5 W`) are
/// accepted too, and `[N/A]` or `[Not Supported]` become `None`.
pub fn parse_smi_csv(text: &str) -> Vec<GpuReading> {
    let num = |s: &str| -> Option<f64> {
        let s = s.trim();
        let s = s.split_whitespace().next()?;
        s.parse::<f64>().ok().filter(|v| v.is_finite())
    };
    let mib = |s: &str| num(s).map(|v| v * 1024.0 * 1024.0);
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() < 6 {
                return None;
            }
            let index = f[0].trim().parse::<u32>().ok()?; // skips a header
            Some(GpuReading {
                index,
                utilization_pct: num(f[1]),
                memory_used_bytes: mib(f[2]),
                memory_total_bytes: mib(f[3]),
                power_w: num(f[4]),
                temperature_c: num(f[5]),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_csv_with_and_without_units() {
        let rows = parse_smi_csv("0, 45, 1024, 81920, 250.50, 61\n1, 0, 10, 81920, [N/A], 40\n");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].utilization_pct, Some(45.0));
        assert_eq!(rows[0].memory_used_bytes, Some(1024.0 * 1048576.0));
        assert_eq!(rows[0].power_w, Some(250.5));
        assert_eq!(rows[1].power_w, None);
        let with_units = parse_smi_csv(
            "index, utilization.gpu [%], memory.used [MiB], memory.total [MiB], power.draw [W], temperature.gpu\n\
             0, 97 %, 40000 MiB, 80000 MiB, 300.00 W, 70\n",
        );
        assert_eq!(with_units.len(), 1);
        assert_eq!(with_units[0].utilization_pct, Some(97.0));
        let mut out = Vec::new();
        with_units[0].readings(&mut out);
        let mem = out.iter().find(|r| r.name == "gpu0.memory").unwrap();
        assert_eq!(mem.value, 50.0);
        assert_eq!(mem.role, Some(Role::GpuMemory));
    }

    #[test]
    fn garbage_gives_no_gpu() {
        assert!(parse_smi_csv("NVIDIA-SMI has failed because it couldn't communicate with the driver").is_empty());
    }
}
