-- TPC-H's tables: lineitem and orders are facts, the others dimensions.
CREATE TABLE region (
  r_regionkey BIGINT PRIMARY KEY,
  r_name TEXT NOT NULL,
  r_comment TEXT NOT NULL
) WITH (role = 'dimension');

CREATE TABLE nation (
  n_nationkey BIGINT PRIMARY KEY,
  n_name TEXT NOT NULL,
  n_regionkey BIGINT NOT NULL REFERENCES region (r_regionkey),
  n_comment TEXT NOT NULL
) WITH (role = 'dimension');

CREATE TABLE supplier (
  s_suppkey BIGINT PRIMARY KEY,
  s_name TEXT NOT NULL,
  s_address TEXT NOT NULL,
  s_nationkey BIGINT NOT NULL REFERENCES nation (n_nationkey),
  s_phone TEXT NOT NULL,
  s_acctbal DECIMAL(15, 2) NOT NULL,
  s_comment TEXT NOT NULL
) WITH (role = 'dimension');

CREATE TABLE customer (
  c_custkey BIGINT PRIMARY KEY,
  c_name TEXT NOT NULL,
  c_address TEXT NOT NULL,
  c_nationkey BIGINT NOT NULL REFERENCES nation (n_nationkey),
  c_phone TEXT NOT NULL,
  c_acctbal DECIMAL(15, 2) NOT NULL,
  c_mktsegment TEXT NOT NULL,
  c_comment TEXT NOT NULL
) WITH (role = 'dimension');

CREATE TABLE part (
  p_partkey BIGINT PRIMARY KEY,
  p_name TEXT NOT NULL,
  p_mfgr TEXT NOT NULL,
  p_brand TEXT NOT NULL,
  p_type TEXT NOT NULL,
  p_size INT NOT NULL,
  p_container TEXT NOT NULL,
  p_retailprice DECIMAL(15, 2) NOT NULL,
  p_comment TEXT NOT NULL
) WITH (role = 'dimension');

CREATE TABLE partsupp (
  ps_partkey BIGINT NOT NULL REFERENCES part (p_partkey),
  ps_suppkey BIGINT NOT NULL REFERENCES supplier (s_suppkey),
  ps_availqty INT NOT NULL,
  ps_supplycost DECIMAL(15, 2) NOT NULL,
  ps_comment TEXT NOT NULL,
  PRIMARY KEY (ps_partkey, ps_suppkey)
) WITH (role = 'dimension');

CREATE TABLE orders (
  o_orderkey BIGINT PRIMARY KEY,
  o_custkey BIGINT NOT NULL REFERENCES customer (c_custkey),
  o_orderstatus TEXT NOT NULL,
  o_totalprice DECIMAL(15, 2) NOT NULL,
  o_orderdate DATE NOT NULL,
  o_orderpriority TEXT NOT NULL,
  o_clerk TEXT NOT NULL,
  o_shippriority INT NOT NULL,
  o_comment TEXT NOT NULL
) WITH (role = 'fact');

CREATE TABLE lineitem (
  l_orderkey BIGINT NOT NULL REFERENCES orders (o_orderkey),
  l_partkey BIGINT NOT NULL REFERENCES part (p_partkey),
  l_suppkey BIGINT NOT NULL REFERENCES supplier (s_suppkey),
  l_linenumber INT NOT NULL,
  l_quantity DECIMAL(15, 2) NOT NULL,
  l_extendedprice DECIMAL(15, 2) NOT NULL,
  l_discount DECIMAL(15, 2) NOT NULL,
  l_tax DECIMAL(15, 2) NOT NULL,
  l_returnflag TEXT NOT NULL,
  l_linestatus TEXT NOT NULL,
  l_shipdate DATE NOT NULL,
  l_commitdate DATE NOT NULL,
  l_receiptdate DATE NOT NULL,
  l_shipinstruct TEXT NOT NULL,
  l_shipmode TEXT NOT NULL,
  l_comment TEXT NOT NULL,
  PRIMARY KEY (l_orderkey, l_linenumber),
  FOREIGN KEY (l_partkey, l_suppkey) REFERENCES partsupp (ps_partkey, ps_suppkey)
) WITH (role = 'fact');
