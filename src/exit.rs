//! Process exit codes, the same for every command.

/// Outcome of a drkit process, as its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Ok = 0,
    /// At least one set, job or check failed; the others still ran.
    Failed = 1,
    /// The command line or the config is invalid; nothing was done.
    Usage = 2,
}

impl Exit {
    /// Returns the worse of two outcomes.
    pub fn worst(self, other: Exit) -> Exit {
        if (other as i32) > (self as i32) {
            other
        } else {
            self
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(Exit::Ok as i32, 0);
        assert_eq!(Exit::Failed as i32, 1);
        assert_eq!(Exit::Usage as i32, 2);
    }

    #[test]
    fn worst_keeps_the_higher_code() {
        assert_eq!(Exit::Ok.worst(Exit::Failed), Exit::Failed);
        assert_eq!(Exit::Usage.worst(Exit::Failed), Exit::Usage);
    }
}
