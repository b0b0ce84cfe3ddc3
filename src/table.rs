//! Plain-text tables as kubectl prints them: columns two spaces apart, no borders, a header
//! row, trailing spaces trimmed.

/// How a table's columns are aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Every column left-aligned (`kubectl get`).
    Left,
    /// The first column left-aligned, the others right-aligned (tables of numbers).
    Numbers,
}

/// `rows` under `header`, aligned as `align` says.
pub fn table(header: &[&str], rows: &[Vec<String>], align: Align) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            let pad = w.saturating_sub(cell.chars().count());
            if i > 0 {
                line.push_str("  ");
            }
            if i == 0 || align == Align::Left {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_two_spaces_apart() {
        let rows = vec![
            vec!["chain".to_string(), "Running".into(), "3/4".into()],
            vec!["b".into(), "Pending".into(), "0/10".into()],
        ];
        assert_eq!(
            table(&["NAME", "PHASE", "COMPLETED"], &rows, Align::Left),
            "NAME   PHASE    COMPLETED\nchain  Running  3/4\nb      Pending  0/10\n"
        );
        assert_eq!(
            table(&["NAME", "PHASE", "COMPLETED"], &rows, Align::Numbers),
            "NAME     PHASE  COMPLETED\nchain  Running        3/4\nb      Pending       0/10\n"
        );
    }
}
