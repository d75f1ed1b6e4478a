-- The statement behind the schema change topic example of Debezium's MySQL
-- connector documentation ("Schema change topic"), after the table it alters.
CREATE TABLE customers (
  id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
  first_name VARCHAR(255) NOT NULL,
  last_name VARCHAR(255) NOT NULL,
  email VARCHAR(255) NOT NULL UNIQUE KEY
) DEFAULT CHARSET=utf8mb4;
ALTER TABLE customers ADD middle_name varchar(255) AFTER first_name;
