"""A MySQL/MariaDB schema shaped like the `employees` sample, written from what that sample is
documented to contain (departments, employees with an ENUM gender and dates, composite keys
on the history tables, views over views), plus the objects a real database adds: a generated
column, an ``ON UPDATE CURRENT_TIMESTAMP`` column, a partitioned table, an ``AUTO_INCREMENT``
counter past the last row, a table comment, a function and a trigger.

Rows come from MariaDB's sequence tables (``seq_1_to_N``)."""

from __future__ import annotations

from typing import Any

STATEMENTS = [
    """CREATE TABLE departments (
        dept_no CHAR(4) NOT NULL PRIMARY KEY,
        dept_name VARCHAR(40) NOT NULL,
        UNIQUE KEY dept_name (dept_name))""",
    """CREATE TABLE employees (
        emp_no INT NOT NULL PRIMARY KEY,
        birth_date DATE NOT NULL,
        first_name VARCHAR(14) NOT NULL,
        last_name VARCHAR(16) NOT NULL,
        gender ENUM('M', 'F') NOT NULL,
        hire_date DATE NOT NULL,
        full_name VARCHAR(31) AS (CONCAT(first_name, ' ', last_name)) STORED,
        updated_at TIMESTAMP NOT NULL DEFAULT '2020-01-01 00:00:00'
            ON UPDATE CURRENT_TIMESTAMP) COMMENT 'one row per employee'""",
    """CREATE TABLE dept_emp (
        emp_no INT NOT NULL,
        dept_no CHAR(4) NOT NULL,
        from_date DATE NOT NULL,
        to_date DATE NOT NULL,
        PRIMARY KEY (emp_no, dept_no),
        FOREIGN KEY (emp_no) REFERENCES employees (emp_no) ON DELETE CASCADE,
        FOREIGN KEY (dept_no) REFERENCES departments (dept_no) ON DELETE CASCADE)""",
    """CREATE TABLE titles (
        emp_no INT NOT NULL,
        title VARCHAR(50) NOT NULL,
        from_date DATE NOT NULL,
        to_date DATE,
        PRIMARY KEY (emp_no, title, from_date),
        FOREIGN KEY (emp_no) REFERENCES employees (emp_no) ON DELETE CASCADE)""",
    """CREATE TABLE salaries (
        emp_no INT NOT NULL,
        salary INT NOT NULL,
        from_date DATE NOT NULL,
        to_date DATE NOT NULL,
        PRIMARY KEY (emp_no, from_date))
    PARTITION BY RANGE (YEAR(from_date)) (
        PARTITION p1995 VALUES LESS THAN (1995),
        PARTITION p2005 VALUES LESS THAN (2005),
        PARTITION pmax VALUES LESS THAN MAXVALUE)""",
    """CREATE TABLE audit_log (
        id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        emp_no INT NOT NULL,
        action VARCHAR(10) NOT NULL)""",
    """INSERT INTO departments VALUES ('d001', 'Marketing'), ('d002', 'Finance'),
        ('d003', 'Human Resources'), ('d004', 'Production'), ('d005', 'Development')""",
    """INSERT INTO employees (emp_no, birth_date, first_name, last_name, gender, hire_date)
        SELECT 10000 + seq, DATE '1952-02-01' + INTERVAL seq * 17 DAY, CONCAT('Georgi', seq),
               CONCAT('Facello', seq % 50), IF(seq % 3 = 0, 'F', 'M'),
               DATE '1985-01-01' + INTERVAL seq * 11 DAY
        FROM seq_1_to_600""",
    """INSERT INTO dept_emp SELECT 10000 + seq, CONCAT('d00', 1 + seq % 5),
        DATE '1985-01-01' + INTERVAL seq * 11 DAY, DATE '9999-01-01' FROM seq_1_to_600""",
    """INSERT INTO titles SELECT 10000 + seq, IF(seq % 4 = 0, 'Senior Engineer', 'Engineer'),
        DATE '1985-01-01' + INTERVAL seq * 11 DAY, IF(seq % 5 = 0, NULL, DATE '2000-01-01')
        FROM seq_1_to_600""",
    """INSERT INTO salaries SELECT 10000 + seq % 600, 40000 + seq * 7,
        DATE '1985-01-01' + INTERVAL seq * 5 DAY, DATE '1985-01-01' + INTERVAL seq * 5 + 365 DAY
        FROM seq_1_to_3000""",
    "INSERT INTO audit_log (emp_no, action) SELECT 10000 + seq, 'hire' FROM seq_1_to_20",
    "DELETE FROM audit_log WHERE id > 15",  # the counter stays at 21
    """CREATE VIEW dept_emp_latest_date AS
        SELECT emp_no, MAX(from_date) AS from_date, MAX(to_date) AS to_date
        FROM dept_emp GROUP BY emp_no""",
    """CREATE VIEW current_dept_emp AS
        SELECT l.emp_no, d.dept_no, l.from_date, l.to_date
        FROM dept_emp d JOIN dept_emp_latest_date l
          ON d.emp_no = l.emp_no AND d.from_date = l.from_date AND l.to_date = d.to_date""",
    """CREATE FUNCTION tenure_years(d DATE) RETURNS INT DETERMINISTIC
        RETURN TIMESTAMPDIFF(YEAR, d, DATE '2020-01-01')""",
    """CREATE TRIGGER employees_audit AFTER UPDATE ON employees FOR EACH ROW
        INSERT INTO audit_log (emp_no, action) VALUES (NEW.emp_no, 'update')""",
]

#: the tables dmt copies
TABLES = ["audit_log", "departments", "dept_emp", "employees", "salaries", "titles"]


def build(conn: Any) -> None:
    """Create the schema and its rows through a PyMySQL connection."""
    with conn.cursor() as cur:
        for sql in STATEMENTS:
            cur.execute(sql)
    conn.commit()
