"""Fixed reference data of the demo world: dates, industries, families, products, places.

Everything here is independent of the seed and of the world's size, so a product id or an
industry name means the same thing in every demo world.  The numbers are chosen to look
like a mid-sized European/North-American IT reseller's market; they are not taken from
any real company.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

__all__ = [
    "BASE_CURRENCY",
    "CITIES",
    "COMPETITORS",
    "COUNTRIES",
    "DEMO_AS_OF",
    "DEMO_START",
    "FAMILIES",
    "INDUSTRIES",
    "INTENSITY",
    "NEXT_YEAR",
    "PRODUCT_NAMES",
    "REGIONS",
]

#: The default as-of date: the last day of transaction history (figures use dates <= it).
DEMO_AS_OF = dt.date(2025, 12, 31)
#: The first day of transaction history (three calendar years up to the as-of date).
DEMO_START = dt.date(2023, 1, 1)
#: The calendar year after the as-of date, whose purchases are kept apart as truth.
NEXT_YEAR = 2026
#: Every amount of the demo world is in this one currency.
BASE_CURRENCY = "EUR"

# -- industries -----------------------------------------------------------------------
# name, share of accounts, median employees, revenue per employee (EUR), effect on fit.
INDUSTRIES: tuple[tuple[str, float, float, float, float], ...] = (
    ("Manufacturing", 0.17, 80, 230_000, 0.6),
    ("Wholesale & Distribution", 0.10, 45, 600_000, 0.3),
    ("Healthcare", 0.09, 110, 120_000, 0.2),
    ("Financial Services", 0.08, 90, 380_000, 0.1),
    ("Retail", 0.11, 40, 190_000, -0.2),
    ("Construction", 0.10, 30, 170_000, -0.4),
    ("Professional Services", 0.13, 25, 150_000, 0.0),
    ("Technology", 0.09, 50, 270_000, 0.5),
    ("Logistics & Transportation", 0.08, 60, 210_000, 0.2),
    ("Public Sector & Education", 0.05, 220, 95_000, -0.3),
)

# -- product families -----------------------------------------------------------------
# name, code, life-cycle stage, size elasticity beta, gross margin, typical list price,
# base log-odds that a customer buys the family, log-odds shift for adopting it next year.
FAMILIES: tuple[tuple[str, str, str, float, float, float, float, float], ...] = (
    ("Hardware", "HW", "maturity", 0.90, 0.18, 900.0, 0.7, 0.0),
    ("Cloud Services", "CL", "growth", 0.85, 0.62, 1_200.0, -0.2, 0.5),
    ("Cybersecurity", "SE", "growth", 0.80, 0.55, 1_000.0, -0.5, 0.5),
    ("Managed Services", "MS", "maturity", 0.90, 0.32, 2_500.0, -0.6, 0.0),
    ("IoT Solutions", "IO", "introduction", 0.85, 0.40, 700.0, -1.6, 0.3),
    ("Print & Imaging", "PR", "decline", 0.75, 0.28, 350.0, -0.3, -0.7),
)

#: Yearly wallet per employee**beta, industry x family (EUR).  A zero marks an industry
#: that does not use the family at all: no account of it holds a wallet there.
INTENSITY = np.array(
    [
        # HW   CL   SE   MS   IO   PR
        [420, 260, 180, 220, 300, 90],  # Manufacturing
        [300, 220, 140, 160, 150, 80],  # Wholesale & Distribution
        [380, 240, 300, 260, 120, 110],  # Healthcare
        [350, 420, 480, 300, 0, 70],  # Financial Services
        [280, 260, 160, 120, 180, 60],  # Retail
        [220, 120, 80, 90, 140, 70],  # Construction
        [300, 340, 200, 180, 0, 120],  # Professional Services
        [450, 600, 400, 150, 200, 0],  # Technology
        [260, 200, 120, 140, 320, 50],  # Logistics & Transportation
        [320, 180, 260, 240, 0, 130],  # Public Sector & Education
    ],
    dtype=float,
)

# -- geography ------------------------------------------------------------------------
REGIONS: tuple[str, ...] = (
    "North America",
    "UK & Ireland",
    "DACH",
    "Benelux & Nordics",
    "France & Southern Europe",
)

# country, ISO code, region index, legal form, web top-level domain
COUNTRIES: tuple[tuple[str, str, int, str, str], ...] = (
    ("United States", "US", 0, "Inc.", "com"),
    ("Canada", "CA", 0, "Ltd.", "ca"),
    ("United Kingdom", "GB", 1, "Ltd", "co.uk"),
    ("Ireland", "IE", 1, "Ltd", "ie"),
    ("Germany", "DE", 2, "GmbH", "de"),
    ("Austria", "AT", 2, "GmbH", "at"),
    ("Switzerland", "CH", 2, "AG", "ch"),
    ("Netherlands", "NL", 3, "B.V.", "nl"),
    ("Belgium", "BE", 3, "NV", "be"),
    ("Sweden", "SE", 3, "AB", "se"),
    ("Denmark", "DK", 3, "A/S", "dk"),
    ("Norway", "NO", 3, "AS", "no"),
    ("Finland", "FI", 3, "Oy", "fi"),
    ("France", "FR", 4, "SAS", "fr"),
    ("Spain", "ES", 4, "S.L.", "es"),
    ("Italy", "IT", 4, "S.p.A.", "it"),
)

# city, country index, latitude, longitude, weight (share of the market's companies)
CITIES: tuple[tuple[str, int, float, float, float], ...] = (
    ("New York", 0, 40.71, -74.01, 6.0),
    ("Chicago", 0, 41.88, -87.63, 3.5),
    ("Los Angeles", 0, 34.05, -118.24, 4.0),
    ("Houston", 0, 29.76, -95.37, 2.5),
    ("Atlanta", 0, 33.75, -84.39, 2.0),
    ("Seattle", 0, 47.61, -122.33, 1.8),
    ("Boston", 0, 42.36, -71.06, 2.0),
    ("Dallas", 0, 32.78, -96.80, 2.2),
    ("Toronto", 1, 43.65, -79.38, 2.2),
    ("Montreal", 1, 45.50, -73.57, 1.2),
    ("Vancouver", 1, 49.28, -123.12, 1.0),
    ("London", 2, 51.51, -0.13, 6.0),
    ("Manchester", 2, 53.48, -2.24, 1.6),
    ("Birmingham", 2, 52.49, -1.89, 1.5),
    ("Glasgow", 2, 55.86, -4.25, 0.9),
    ("Leeds", 2, 53.80, -1.55, 1.0),
    ("Dublin", 3, 53.35, -6.26, 1.5),
    ("Cork", 3, 51.90, -8.47, 0.5),
    ("Berlin", 4, 52.52, 13.40, 2.8),
    ("Munich", 4, 48.14, 11.58, 3.0),
    ("Hamburg", 4, 53.55, 9.99, 2.2),
    ("Frankfurt", 4, 50.11, 8.68, 2.0),
    ("Cologne", 4, 50.94, 6.96, 1.5),
    ("Stuttgart", 4, 48.78, 9.18, 1.8),
    ("Düsseldorf", 4, 51.23, 6.77, 1.4),
    ("Vienna", 5, 48.21, 16.37, 1.6),
    ("Graz", 5, 47.07, 15.44, 0.5),
    ("Zurich", 6, 47.38, 8.54, 1.5),
    ("Geneva", 6, 46.20, 6.14, 0.7),
    ("Basel", 6, 47.56, 7.59, 0.6),
    ("Amsterdam", 7, 52.37, 4.90, 2.0),
    ("Rotterdam", 7, 51.92, 4.48, 1.2),
    ("Eindhoven", 7, 51.44, 5.47, 0.7),
    ("Brussels", 8, 50.85, 4.35, 1.4),
    ("Antwerp", 8, 51.22, 4.40, 0.8),
    ("Stockholm", 9, 59.33, 18.07, 1.6),
    ("Gothenburg", 9, 57.71, 11.97, 0.7),
    ("Copenhagen", 10, 55.68, 12.57, 1.3),
    ("Oslo", 11, 59.91, 10.75, 1.1),
    ("Helsinki", 12, 60.17, 24.94, 0.9),
    ("Paris", 13, 48.86, 2.35, 4.5),
    ("Lyon", 13, 45.76, 4.84, 1.3),
    ("Marseille", 13, 43.30, 5.37, 0.9),
    ("Toulouse", 13, 43.60, 1.44, 0.8),
    ("Madrid", 14, 40.42, -3.70, 2.4),
    ("Barcelona", 14, 41.39, 2.17, 2.0),
    ("Valencia", 14, 39.47, -0.38, 0.7),
    ("Milan", 15, 45.46, 9.19, 2.4),
    ("Rome", 15, 41.90, 12.50, 1.6),
    ("Turin", 15, 45.07, 7.69, 0.8),
)

# -- catalogue --------------------------------------------------------------------------
#: Ten products per family, most popular first.
PRODUCT_NAMES: dict[str, tuple[str, ...]] = {
    "HW": ("Business Laptop 14", "Business Laptop 16", "Desktop Workstation", "27-inch Monitor",
           "Docking Station", "Rugged Tablet", "Network Switch 48-port", "Wi-Fi Access Point",
           "Rack Server 1U", "Storage Array"),
    "CL": ("Collaboration Suite", "Cloud Compute Reserved", "Cloud Storage Tier",
           "Backup as a Service", "Virtual Desktop", "Database as a Service",
           "Managed Kubernetes", "Disaster Recovery", "Cloud Migration Package",
           "Cloud Cost Optimiser"),
    "SE": ("Endpoint Protection", "Email Security", "Firewall Appliance", "Identity & Access",
           "Managed Detection & Response", "Security Awareness Training",
           "Vulnerability Scanning", "SIEM Subscription", "Penetration Test",
           "Zero Trust Gateway"),
    "MS": ("Service Desk", "Field Support Contract", "Patch Management",
           "Device Lifecycle Service", "Network Operations", "IT Asset Management",
           "On-site Engineer Day", "Consulting Day", "Project Management Day",
           "Premium SLA Upgrade"),
    "IO": ("Asset Tracker", "Edge Gateway", "Environmental Sensor Kit", "Fleet Telematics",
           "IoT Connectivity Plan", "Cold-chain Monitor", "Smart Meter Pack",
           "Machine Vision Camera", "Predictive Maintenance Suite", "IoT Platform Licence"),
    "PR": ("Toner Cartridge", "Multifunction Printer A4", "Managed Print Service",
           "Multifunction Printer A3", "Paper Supply Contract", "Label Printer",
           "Document Scanner", "Printer Maintenance Kit", "Print Management Licence",
           "Production Printer"),
}

#: Four invented competitors per family, most common first.
COMPETITORS: dict[str, tuple[str, ...]] = {
    "HW": ("Corvex Hardware", "Lumen Devices", "Tessera Systems", "Ironbridge Tech"),
    "CL": ("Nimbus Cloud", "Stratosphere Hosting", "Cirrus Data", "Altocloud"),
    "SE": ("Sentinel Shield", "Fortivo", "Palisade Networks", "Bastion Labs"),
    "MS": ("Atlas IT Services", "Helix Managed", "Northwind Support", "Cobalt Outsourcing"),
    "IO": ("Sensora", "EdgeWorks", "Telemetrix", "Konnekt"),
    "PR": ("Printwell", "Imagix", "Papyra", "Inkline Office"),
}

# -- words for names ------------------------------------------------------------------
NAME_PREFIXES: tuple[str, ...] = (
    "Nord", "Alp", "Blue", "Vert", "Stern", "Oak", "River", "Silver", "Iron", "North",
    "Sun", "Green", "Red", "Bright", "Clear", "Falcon", "Harbor", "Lake", "Maple", "Pine",
    "Stone", "Summit", "Delta", "Orbit", "Nova", "Astra", "Terra", "Aqua", "Helio", "Kron",
    "Lumen", "Magna", "Opti", "Prima", "Quanta", "Solis", "Vita", "Zen", "Arc", "Bel",
)
NAME_CORES: tuple[str, ...] = (
    "tek", "works", "line", "field", "gate", "way", "ton", "mark", "bridge", "point",
    "stream", "core", "vale", "wood", "star", "view", "port", "ex", "ion", "ia",
    "dyn", "tron", "gard", "haven", "land", "crest", "forge", "mont", "rock", "wave",
)
#: Per industry: words that follow a company's stem.
NAME_WORDS: tuple[tuple[str, ...], ...] = (
    ("Manufacturing", "Industries", "Components", "Engineering", "Precision"),
    ("Distribution", "Supply", "Trading", "Wholesale", "Partners"),
    ("Health", "Medical", "Clinics", "Care", "Labs"),
    ("Capital", "Finance", "Insurance", "Bank", "Invest"),
    ("Retail", "Stores", "Shops", "Brands", "Outlet"),
    ("Construction", "Builders", "Bau", "Projects", "Contracting"),
    ("Consulting", "Advisory", "Legal", "Partners", "Associates"),
    ("Software", "Systems", "Digital", "Labs", "Technologies"),
    ("Logistics", "Freight", "Transport", "Shipping", "Mobility"),
    ("Municipality", "Services", "Schools", "Authority", "University"),
)

FIRST_NAMES: tuple[str, ...] = (
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Grace", "Hugo", "Ines", "Jonas",
    "Kate", "Lukas", "Maria", "Noah", "Olivia", "Paul", "Queenie", "Rafael", "Sofia", "Tom",
    "Ulla", "Victor", "Wendy", "Xavier", "Yara", "Zoe", "Emma", "Liam", "Mia", "Lars",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Müller", "Martin", "Rossi", "García", "Jansen", "Nielsen", "Schmidt", "Brown",
    "Dubois", "Bianchi", "López", "de Vries", "Andersson", "Wagner", "Taylor", "Moreau",
    "Romano", "Fernández", "Peeters", "Hansen", "Becker", "Wilson", "Lefebvre", "Ricci",
    "Novak", "Berg", "Keller", "O'Brien", "Walsh",
)

#: Job titles per buying role (contract.BUYING_ROLES order).
TITLES: tuple[tuple[str, ...], ...] = (
    ("CIO", "CEO", "CFO", "Managing Director", "VP Operations"),
    ("IT Manager", "Head of Infrastructure", "Security Lead", "Solutions Architect"),
    ("Office Manager", "Team Lead", "Engineer", "Analyst", "Site Manager"),
    ("Procurement Manager", "Buyer", "Purchasing Lead"),
)
#: Relative share of each buying role among contacts.
ROLE_WEIGHTS = np.array([0.18, 0.30, 0.37, 0.15])

#: Relative invoice volume per calendar month (mean 1): Q4 budgets, a summer lull.
SEASONALITY = np.array([0.85, 0.92, 1.08, 0.95, 1.0, 1.05, 0.85, 0.72, 1.05, 1.08, 1.1, 1.35])
SEASONALITY = SEASONALITY / SEASONALITY.mean()
