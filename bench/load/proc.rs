//! A process's CPU time, from /proc.

/// The CPU time, user plus system, seconds, that process `pid` has used so far (fields
/// 14 and 15 of /proc/PID/stat, proc(5), in clock ticks).
pub fn cpu_seconds(pid: u32) -> Result<f64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Field 2, the command, is in parentheses and may hold spaces: count after it.
    let after_command = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or("unexpected /proc/PID/stat format")?;
    let fields: Vec<&str> = after_command.split_whitespace().collect();
    // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let ticks: u64 = fields.get(11).ok_or("no utime")?.parse::<u64>()?
        + fields.get(12).ok_or("no stime")?.parse::<u64>()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok(ticks as f64 / per_second as f64)
}
