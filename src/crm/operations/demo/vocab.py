# Chinese punctuation is meant here, and the word lists read best as text:
# ruff: noqa: RUF001, SIM905
"""Word lists for the demo data, in Chinese and English.

Finite pools on purpose: names repeat the way they do in real address books, and the loader
computes each distinct name's search keys (pinyin, initials) once.
"""

from __future__ import annotations

from typing import NamedTuple

# Surnames roughly in order of frequency (the first ones are drawn most often).
CN_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛"
)
CN_GIVEN = (
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 浩 婷 鹏 华 红 玲 斌 宇 飞 鑫 "
    "波 琳 颖 倩 晨 峰 蕾 凯 昊 悦 欣 萍 雪 慧 璐 健 亮 帆 彤 "
    "秀英 秀兰 桂英 建华 建国 志强 海燕 晓东 晓明 文杰 子涵 梓轩 一鸣 雨桐 欣怡 浩然 俊杰 思远 "
    "嘉怡 佳琪 宇轩 诗涵 明辉 国强 丽娟 春梅 志伟 晓燕 永刚 立新 德华 美玲 天宇 若曦 静怡 家豪 "
    "振华 海涛 红梅 丹丹 子豪 梦琪 博文 雅婷 嘉伟 晓峰 文静 建军 秀珍 玉兰 志明 婉清 泽宇 思琪"
).split()

EN_FIRST = (
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Emily Daniel Olivia "
    "Matthew Emma Anthony Sophie Mark Amelia Oliver Harry George Jack Charlotte Grace Lucy Chloe "
    "Ethan Noah Liam Mia Ava Isla Henry Alexander Samuel Benjamin Hannah Laura Rachel Peter Paul "
    "Andrew Kevin Brian Rebecca Alice Victoria Priya Arjun Mei Wei Hui Kai"
).split()
EN_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Wilson Taylor Anderson Thomas Moore "
    "Martin Jackson Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright "
    "Scott Hill Green Adams Baker Nelson Carter Mitchell Roberts Turner Phillips Campbell Parker "
    "Evans Edwards Collins Stewart Morris Murphy Cook Rogers Morgan Cooper Peterson Reed Bailey "
    "Bell Kelly Howard Ward Cox Richardson Wood Watson Brooks Bennett Gray Hughes Price Patel "
    "Singh Tan Lim Wong Ng Chen Lee O'Brien Müller Fischer Dubois"
).split()


class City(NamedTuple):
    zh: str
    en: str
    region_zh: str
    region_en: str
    country: str  # ISO code: the phone plan and the e-mail domain follow it
    landline: str  # area code for company phone numbers (national, without trunk prefix)


CN_CITIES = (
    City("北京", "Beijing", "华北", "China", "CN", "10"),
    City("上海", "Shanghai", "华东", "China", "CN", "21"),
    City("深圳", "Shenzhen", "华南", "China", "CN", "755"),
    City("广州", "Guangzhou", "华南", "China", "CN", "20"),
    City("杭州", "Hangzhou", "华东", "China", "CN", "571"),
    City("成都", "Chengdu", "西南", "China", "CN", "28"),
    City("南京", "Nanjing", "华东", "China", "CN", "25"),
    City("武汉", "Wuhan", "华中", "China", "CN", "27"),
    City("苏州", "Suzhou", "华东", "China", "CN", "512"),
    City("西安", "Xi'an", "西北", "China", "CN", "29"),
    City("重庆", "Chongqing", "西南", "China", "CN", "23"),
    City("天津", "Tianjin", "华北", "China", "CN", "22"),
    City("长沙", "Changsha", "华中", "China", "CN", "731"),
    City("厦门", "Xiamen", "华东", "China", "CN", "592"),
    City("青岛", "Qingdao", "华东", "China", "CN", "532"),
    City("宁波", "Ningbo", "华东", "China", "CN", "574"),
    City("合肥", "Hefei", "华东", "China", "CN", "551"),
    City("郑州", "Zhengzhou", "华中", "China", "CN", "371"),
    City("沈阳", "Shenyang", "东北", "China", "CN", "24"),
    City("大连", "Dalian", "东北", "China", "CN", "411"),
)
# Weights: the big cities hold most of the customers.
CN_CITY_WEIGHTS = (16, 16, 12, 10, 9, 7, 5, 5, 5, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2)

INTL_CITIES = (
    City("新加坡", "Singapore", "海外", "APAC", "SG", "6"),
    City("伦敦", "London", "海外", "UK", "GB", "20"),
    City("曼彻斯特", "Manchester", "海外", "UK", "GB", "161"),
    City("纽约", "New York", "海外", "US", "US", "212"),
    City("旧金山", "San Francisco", "海外", "US", "US", "415"),
    City("芝加哥", "Chicago", "海外", "US", "US", "312"),
    City("波士顿", "Boston", "海外", "US", "US", "617"),
)
INTL_CITY_WEIGHTS = (5, 5, 2, 4, 3, 2, 2)

# Mobile prefixes that libphonenumber accepts as valid CN numbers (checked in the tests).
CN_MOBILE_PREFIXES = (
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 176 177 "
    "178 180 181 182 183 184 185 186 187 188 189 191 198 199"
).split()
US_AREA_CODES = ("212", "646", "415", "628", "312", "617", "206", "213", "310", "512")

CN_BRANDS = (
    "星辰 华信 远航 博远 金桥 鼎盛 创新 天成 恒通 瑞丰 汇智 中科 智云 新锐 东方 长城 海纳 卓越 "
    "嘉禾 宏达 德邦 云帆 启明 蓝海 百川 锦程 盛世 永安 飞扬 众和 安信 睿思 腾飞 联创 万通 诚泰 "
    "华美 鸿运 晨光 正大 明德 同方 聚力 九州 京华 金石 银河 领航 北辰 青松 旭日 和泰 佳和 天禾 "
    "思源 睿达 华腾 智联 凯旋 新元 宏图 合众 鑫源 宝利 信达 泰和 德信 华安 中瑞 君和 致远 亿达"
).split()
EN_BRANDS = (
    "Acme Globex Initech Umbrella Northwind Contoso Fabrikam Tailspin Litware Proseware "
    "Woodgrove Lucerne Alpine Harbor Summit Pinnacle Evergreen Redwood Silverline Brightstar "
    "Bluewater Ironbridge Oakridge Kingfisher Falcon Meridian Horizon Vertex Apex Nimbus Quantum "
    "Atlas Orion Zenith Sterling Crescent Beacon Cobalt Juniper Sequoia Maple Granite Lighthouse"
).split()


class Industry(NamedTuple):
    zh: str  # label in a Chinese tenant
    en: str  # label in an English tenant
    cn_word: str  # word in a Chinese company name
    en_word: str  # word in an English company name
    domain: str  # fragment of the company's web domain


INDUSTRIES = (
    Industry("软件与信息服务", "Software", "科技", "Software", "tech"),
    Industry("软件与信息服务", "Software", "信息技术", "Systems", "it"),
    Industry("互联网", "Internet", "网络科技", "Digital", "net"),
    Industry("电子制造", "Electronics", "电子", "Electronics", "elec"),
    Industry("机械制造", "Manufacturing", "机械", "Engineering", "mach"),
    Industry("批发零售", "Wholesale & retail", "贸易", "Trading", "trade"),
    Industry("物流运输", "Logistics", "物流", "Logistics", "logistics"),
    Industry("医药健康", "Healthcare", "医药", "Pharma", "pharma"),
    Industry("医药健康", "Healthcare", "生物科技", "Biotech", "bio"),
    Industry("教育", "Education", "教育科技", "Learning", "edu"),
    Industry("餐饮", "Food service", "餐饮管理", "Hospitality", "food"),
    Industry("建筑", "Construction", "建筑工程", "Construction", "build"),
    Industry("能源", "Energy", "新能源", "Energy", "energy"),
    Industry("汽车", "Automotive", "汽车零部件", "Motors", "auto"),
    Industry("食品饮料", "Food & beverage", "食品", "Foods", "foods"),
    Industry("传媒", "Media", "文化传媒", "Media", "media"),
    Industry("专业服务", "Professional services", "咨询", "Consulting", "consult"),
    Industry("金融", "Finance", "金融服务", "Capital", "capital"),
)
CN_COMPANY_SUFFIXES = ("有限公司", "有限公司", "有限公司", "股份有限公司", "集团有限公司")
EN_COMPANY_SUFFIXES = {
    "GB": ("Ltd", "Ltd", "PLC", "Group"),
    "US": ("Inc", "Inc", "LLC", "Corp", "Co."),
    "SG": ("Pte Ltd", "Pte Ltd", "Holdings"),
    "CN": ("Ltd", "Co., Ltd"),
}
COMPANY_SIZES = ("1-10", "11-50", "51-200", "201-1000", "1000+")
COMPANY_SIZE_WEIGHTS = (15, 35, 30, 15, 5)

# Source codes are the lead-scoring codes (crm.sales.scoring.DEFAULT_SOURCE_VALUES).
SOURCES = ("webform", "referral", "event", "ads", "partner", "cold")
SOURCE_WEIGHTS = (30, 15, 15, 20, 10, 10)

CN_TITLES = (
    "总经理 副总经理 销售总监 采购经理 技术总监 IT经理 财务总监 市场经理 运营主管 项目经理 "
    "行政主管 首席执行官 首席技术官 人力资源经理 采购专员 信息化负责人 销售经理 客服主管"
).split()
EN_TITLES = (
    "CEO",
    "CTO",
    "CFO",
    "Head of Procurement",
    "IT Manager",
    "Sales Director",
    "Operations Manager",
    "Marketing Manager",
    "Project Manager",
    "Office Manager",
    "Buyer",
    "VP Engineering",
    "Customer Service Lead",
)
FREE_MAIL = {
    "CN": ("qq.com", "163.com", "126.com", "foxmail.com"),
    "": ("gmail.com", "outlook.com"),
}


class Solution(NamedTuple):
    zh: str
    en: str
    median: int  # typical amount in the tenant's currency unit of 1,000 CNY


SOLUTIONS = (
    Solution("CRM 年度订阅", "Annual subscription", 60),
    Solution("私有化部署", "On-premise deployment", 300),
    Solution("数据平台建设", "Data platform", 450),
    Solution("年度维保续约", "Support renewal", 40),
    Solution("员工培训项目", "Training programme", 25),
    Solution("硬件采购", "Hardware refresh", 120),
    Solution("系统集成", "Integration project", 200),
    Solution("二期扩容", "Phase 2 expansion", 150),
)


class ProductSpec(NamedTuple):
    zh: str
    en: str
    category_zh: str
    category_en: str
    price: int  # CNY
    max_quantity: int


PRODUCTS = (
    ProductSpec("CRM 标准版（年）", "CRM Standard (year)", "软件订阅", "Software", 4800, 5),
    ProductSpec("CRM 专业版（年）", "CRM Professional (year)", "软件订阅", "Software", 9800, 5),
    ProductSpec("CRM 企业版（年）", "CRM Enterprise (year)", "软件订阅", "Software", 29800, 3),
    ProductSpec("数据分析模块", "Analytics add-on", "软件订阅", "Software", 12000, 2),
    ProductSpec("移动办公插件", "Mobile add-on", "软件订阅", "Software", 3600, 5),
    ProductSpec("营销自动化模块", "Marketing automation", "软件订阅", "Software", 15800, 2),
    ProductSpec("服务器 X1", "Server X1", "硬件", "Hardware", 45000, 2),
    ProductSpec("扫码枪", "Barcode scanner", "硬件", "Hardware", 680, 20),
    ProductSpec("标签打印机", "Label printer", "硬件", "Hardware", 2300, 10),
    ProductSpec("手持终端 PDA", "Handheld terminal", "硬件", "Hardware", 3900, 10),
    ProductSpec("实施服务（人天）", "Implementation (day)", "实施服务", "Services", 2500, 20),
    ProductSpec("定制开发（人天）", "Custom development (day)", "实施服务", "Services", 3200, 30),
    ProductSpec("数据迁移服务", "Data migration", "实施服务", "Services", 18000, 1),
    ProductSpec("线上培训", "Online training", "培训", "Training", 1500, 10),
    ProductSpec("现场培训", "On-site training", "培训", "Training", 8000, 3),
    ProductSpec("认证考试", "Certification exam", "培训", "Training", 1200, 10),
    ProductSpec("年度维保（标准）", "Support plan (standard)", "维保", "Support", 6000, 1),
    ProductSpec("年度维保（高级）", "Support plan (premium)", "维保", "Support", 15000, 1),
    ProductSpec("打印耗材套装", "Printer supplies kit", "耗材", "Supplies", 300, 30),
    ProductSpec("标签纸（箱）", "Label rolls (box)", "耗材", "Supplies", 180, 50),
)

ACTIVITY_SUBJECTS = {
    "call": (("电话沟通需求", "Discovery call"), ("电话回访", "Follow-up call")),
    "email": (("发送报价单", "Sent the quote"), ("发送产品资料", "Sent the brochure")),
    "meeting": (("产品演示", "Product demo"), ("方案评审会", "Proposal review")),
    "visit": (("上门拜访", "On-site visit"), ("参观工厂", "Plant visit")),
    "note": (("客户预算说明", "Budget notes"), ("决策链整理", "Decision makers")),
}
ACTIVITY_KIND_WEIGHTS = {"call": 40, "email": 25, "meeting": 15, "visit": 10, "note": 10}
ACTIVITY_OUTCOMES = (
    ("有意向", "Interested"),
    ("需再跟进", "Needs follow-up"),
    ("已发送资料", "Material sent"),
    ("暂无需求", "No need right now"),
    ("约定下次拜访", "Next visit booked"),
)
TASK_TITLES = (
    ("跟进报价", "Follow up on the quote"),
    ("准备合同", "Prepare the contract"),
    ("安排产品演示", "Schedule a demo"),
    ("回电客户", "Call the customer back"),
    ("发送案例资料", "Send case studies"),
    ("续约提醒", "Renewal reminder"),
    ("确认付款", "Confirm payment"),
)
TAGS = (
    ("重点客户", "Key account", "#dc3545"),
    ("老客户", "Returning", "#198754"),
    ("渠道伙伴", "Partner", "#0d6efd"),
    ("待激活", "Dormant", "#6c757d"),
    ("VIP", "VIP", "#fd7e14"),
)
