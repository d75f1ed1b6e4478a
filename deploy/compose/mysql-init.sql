-- The replication user sluice needs, plus rights on its heartbeat schema.
CREATE USER 'sluice'@'%' IDENTIFIED BY 'sluice';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'sluice'@'%';
GRANT CREATE, INSERT, DELETE ON sluice.* TO 'sluice'@'%';
CREATE DATABASE shop;
CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, customer VARCHAR(64), total DECIMAL(10,2), created_at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6));
