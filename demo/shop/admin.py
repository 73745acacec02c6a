from django.contrib import admin

from .models import Category, Product, Subcategory, Vendor


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "product_count", "average_list_price"]


@admin.register(Subcategory)
class SubcategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "product_count", "average_list_price"]
    list_filter = ["category"]


@admin.register(Vendor)
class VendorAdmin(admin.ModelAdmin):
    list_display = ["name", "account_number", "credit_rating", "preferred", "active"]
    list_filter = ["credit_rating", "preferred", "active"]
    search_fields = ["name", "account_number"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["number", "name", "color", "list_price", "subcategory", "photo"]
    list_filter = ["subcategory__category", "product_line", "color"]
    search_fields = ["number", "name"]
