-- The Star Schema Benchmark's tables: lineorder, the fact, and its four dimensions.
CREATE TABLE dwdate (
  d_datekey INT PRIMARY KEY,
  d_date TEXT NOT NULL,
  d_dayofweek TEXT NOT NULL,
  d_month TEXT NOT NULL,
  d_year INT NOT NULL,
  d_yearmonthnum INT NOT NULL,
  d_yearmonth TEXT NOT NULL,
  d_daynuminweek INT NOT NULL,
  d_daynuminmonth INT NOT NULL,
  d_daynuminyear INT NOT NULL,
  d_monthnuminyear INT NOT NULL,
  d_weeknuminyear INT NOT NULL,
  d_sellingseason TEXT NOT NULL,
  d_lastdayinweekfl INT NOT NULL,
  d_lastdayinmonthfl INT NOT NULL,
  d_holidayfl INT NOT NULL,
  d_weekdayfl INT NOT NULL
) WITH (role = 'dimension');

CREATE TABLE customer (
  c_custkey INT PRIMARY KEY,
  c_name TEXT NOT NULL,
  c_address TEXT NOT NULL,
  c_city TEXT NOT NULL,
  c_nation TEXT NOT NULL,
  c_region TEXT NOT NULL,
  c_phone TEXT NOT NULL,
  c_mktsegment TEXT NOT NULL
) WITH (role = 'dimension');

CREATE TABLE supplier (
  s_suppkey INT PRIMARY KEY,
  s_name TEXT NOT NULL,
  s_address TEXT NOT NULL,
  s_city TEXT NOT NULL,
  s_nation TEXT NOT NULL,
  s_region TEXT NOT NULL,
  s_phone TEXT NOT NULL
) WITH (role = 'dimension');

CREATE TABLE part (
  p_partkey INT PRIMARY KEY,
  p_name TEXT NOT NULL,
  p_mfgr TEXT NOT NULL,
  p_category TEXT NOT NULL,
  p_brand1 TEXT NOT NULL,
  p_color TEXT NOT NULL,
  p_type TEXT NOT NULL,
  p_size INT NOT NULL,
  p_container TEXT NOT NULL
) WITH (role = 'dimension');

CREATE TABLE lineorder (
  lo_orderkey BIGINT NOT NULL,
  lo_linenumber INT NOT NULL,
  lo_custkey INT NOT NULL REFERENCES customer (c_custkey),
  lo_partkey INT NOT NULL REFERENCES part (p_partkey),
  lo_suppkey INT NOT NULL REFERENCES supplier (s_suppkey),
  lo_orderdate INT NOT NULL REFERENCES dwdate (d_datekey),
  lo_orderpriority TEXT NOT NULL,
  lo_shippriority INT NOT NULL,
  lo_quantity INT NOT NULL,
  lo_extendedprice INT NOT NULL,
  lo_ordtotalprice INT NOT NULL,
  lo_discount INT NOT NULL,
  lo_revenue INT NOT NULL,
  lo_supplycost INT NOT NULL,
  lo_tax INT NOT NULL,
  lo_commitdate INT NOT NULL REFERENCES dwdate (d_datekey),
  lo_shipmode TEXT NOT NULL,
  PRIMARY KEY (lo_orderkey, lo_linenumber)
) WITH (role = 'fact') ORDER BY (lo_orderdate);
