"""The bicycle shop's catalog, filled nightly from the ERP's dump."""

from django.db import models


class Category(models.Model):
    source_id = models.PositiveIntegerField("ERP id", unique=True)
    name = models.CharField(max_length=50, unique=True)
    guid = models.UUIDField("row GUID", unique=True)
    modified_at = models.DateTimeField("modified in the ERP")
    product_count = models.PositiveIntegerField(default=0, editable=False)
    average_list_price = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class Subcategory(models.Model):
    source_id = models.PositiveIntegerField("ERP id", unique=True)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="subcategories"
    )
    name = models.CharField(max_length=50, unique=True)
    guid = models.UUIDField("row GUID", unique=True)
    modified_at = models.DateTimeField("modified in the ERP")
    product_count = models.PositiveIntegerField(default=0, editable=False)
    average_list_price = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "subcategories"

    def __str__(self):
        return self.name


class Vendor(models.Model):
    class CreditRating(models.IntegerChoices):
        SUPERIOR = 1
        EXCELLENT = 2
        ABOVE_AVERAGE = 3
        AVERAGE = 4
        BELOW_AVERAGE = 5

    source_id = models.PositiveIntegerField("ERP id", unique=True)
    account_number = models.CharField(max_length=15, unique=True)
    name = models.CharField(max_length=50)
    credit_rating = models.PositiveSmallIntegerField(choices=CreditRating)
    preferred = models.BooleanField()
    active = models.BooleanField()
    web_service_url = models.URLField(blank=True)
    modified_at = models.DateTimeField("modified in the ERP")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Product(models.Model):
    class Line(models.TextChoices):
        ROAD = "R", "Road"
        MOUNTAIN = "M", "Mountain"
        TOURING = "T", "Touring"
        STANDARD = "S", "Standard"

    class Class(models.TextChoices):
        HIGH = "H", "High"
        MEDIUM = "M", "Medium"
        LOW = "L", "Low"

    class Style(models.TextChoices):
        WOMEN = "W", "Women's"
        MEN = "M", "Men's"
        UNIVERSAL = "U", "Universal"

    source_id = models.PositiveIntegerField("ERP id", unique=True)
    name = models.CharField(max_length=50, unique=True)
    number = models.CharField("product number", max_length=25, unique=True)
    make_flag = models.BooleanField("made in house")
    finished_goods = models.BooleanField("salable")
    color = models.CharField(max_length=15, blank=True)
    safety_stock_level = models.PositiveIntegerField()
    reorder_point = models.PositiveIntegerField()
    standard_cost = models.DecimalField(max_digits=12, decimal_places=4)
    list_price = models.DecimalField(max_digits=12, decimal_places=4)
    size = models.CharField(max_length=5, blank=True)
    weight = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    days_to_manufacture = models.PositiveIntegerField()
    product_line = models.CharField(max_length=2, choices=Line, blank=True)
    product_class = models.CharField("class", max_length=2, choices=Class, blank=True)
    style = models.CharField(max_length=2, choices=Style, blank=True)
    subcategory = models.ForeignKey(
        Subcategory,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
    )
    sell_start = models.DateTimeField()
    sell_end = models.DateTimeField(null=True, blank=True)
    discontinued = models.DateTimeField(null=True, blank=True)
    guid = models.UUIDField("row GUID", unique=True)
    modified_at = models.DateTimeField("modified in the ERP")
    photo_url = models.URLField(max_length=300, blank=True)
    photo = models.ImageField(upload_to="products/photos/", blank=True)

    class Meta:
        ordering = ["number"]

    def __str__(self):
        return f"{self.number} {self.name}"
