from django.contrib import admin

from flows.admin_mixins import ImportExportMixin

from .models import Category, Product, Subcategory, Vendor


@admin.register(Category)
class CategoryAdmin(ImportExportMixin, admin.ModelAdmin):
    list_display = ["name", "product_count", "average_list_price"]
    search_fields = ["name"]
    import_key = ["source_id"]


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
class ProductAdmin(ImportExportMixin, admin.ModelAdmin):
    list_display = ["number", "name", "color", "list_price", "subcategory", "photo"]
    list_filter = ["subcategory__category", "product_line", "color"]
    search_fields = ["number", "name"]
    import_key = ["number"]
