-- Multi-row statements, multi-statement transactions, key changes, deletes.
CREATE TABLE acct (id INT PRIMARY KEY, owner VARCHAR(20), balance DECIMAL(10,2));
INSERT INTO acct VALUES (1, 'ann', 10.00), (2, 'bob', 20.00), (3, 'cy', 30.00);
BEGIN;
UPDATE acct SET balance = balance - 5 WHERE id = 1;
UPDATE acct SET balance = balance + 5 WHERE id = 2;
INSERT INTO acct VALUES (4, 'dee', 0);
COMMIT;
UPDATE acct SET id = 10 WHERE id = 1;
UPDATE acct SET owner = 'bob' WHERE id = 2;
UPDATE acct SET balance = 0;
DELETE FROM acct WHERE id IN (3, 4);
CREATE TABLE nokey (a INT, b VARCHAR(5));
INSERT INTO nokey VALUES (1, 'x'), (1, 'x');
DELETE FROM nokey LIMIT 1;
CREATE TABLE compound (a INT, b VARCHAR(5), c INT, PRIMARY KEY (b, a));
INSERT INTO compound VALUES (1, 'k', 100);
UPDATE compound SET c = 101;
