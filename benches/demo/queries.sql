-- Q1: revenue by year and product category
SELECT d.year, p.category, sum(f.sale_amount) AS revenue
FROM fact_sales f
JOIN dim_date d ON f.date_key = d.date_key
JOIN dim_product p ON f.product_key = p.product_key
GROUP BY d.year, p.category
ORDER BY d.year, revenue DESC;

-- Q2: the ten best-selling products of the 2024 holiday quarter
SELECT p.product_name, p.brand, sum(f.sale_amount) AS revenue, sum(f.sale_quantity) AS units
FROM fact_sales f
JOIN dim_date d ON f.date_key = d.date_key
JOIN dim_product p ON f.product_key = p.product_key
WHERE d.year = 2024 AND d.quarter_of_year = 4
GROUP BY p.product_name, p.brand
ORDER BY revenue DESC
LIMIT 10;

-- Q3: revenue by region and store type, December only
SELECT s.region, s.store_type, sum(f.sale_amount) AS revenue
FROM fact_sales f
JOIN dim_date d ON f.date_key = d.date_key
JOIN dim_store s ON f.store_key = s.store_key
WHERE d.month_of_year = 12
GROUP BY s.region, s.store_type
ORDER BY revenue DESC;

-- Q4: customers and spend by segment and year
SELECT c.segment, d.year, count(DISTINCT f.customer_key) AS customers, sum(f.sale_amount) AS revenue
FROM fact_sales f
JOIN dim_date d ON f.date_key = d.date_key
JOIN dim_customer c ON f.customer_key = c.customer_key
GROUP BY c.segment, d.year
ORDER BY c.segment, d.year;

-- Q5: weekend against weekday sales per country and category, across all four dimensions
SELECT s.country, p.category, d.is_weekend, count(*) AS sales, sum(f.sale_amount) AS revenue
FROM fact_sales f
JOIN dim_date d ON f.date_key = d.date_key
JOIN dim_store s ON f.store_key = s.store_key
JOIN dim_product p ON f.product_key = p.product_key
JOIN dim_customer c ON f.customer_key = c.customer_key
WHERE c.birth_year < 1980
GROUP BY s.country, p.category, d.is_weekend
ORDER BY s.country, p.category, d.is_weekend;
