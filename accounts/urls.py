from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("staff/", views.staff_list, name="staff"),
    path("staff/<int:user_id>/", views.staff_update, name="staff-update"),
]
