// Zero-copy interop with Eigen in both directions.
#include <bigmodel/tensor/eigen.hpp>
#include <bigmodel/tensor/tensor.hpp>

#include <catch2/catch.hpp>

using namespace bigmodel;

TEST_CASE("as_eigen maps a view without copying", "[eigen]") {
  tensor<float, extents<dyn, 6>> t(4);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 6; ++j) t(i, j) = static_cast<float>(i * 6 + j);
  auto m = as_eigen(t.view());
  CHECK(m.data() == t.data());
  CHECK(m.rows() == 4);
  CHECK(m.cols() == 6);
  CHECK(m(3, 5) == 23.0f);
  m(1, 1) = -5.0f;  // writes through
  CHECK(t(1, 1) == -5.0f);

  auto sub = as_eigen(subview(subview(t.view(), 0, 1, 3), 1, 2, 5));
  CHECK(sub.data() == t.data() + 6 + 2);
  CHECK(sub.rows() == 2);
  CHECK(sub(1, 2) == t(2, 4));

  tensor<float, dextents<2>, layout_left> cm(3, 2);
  cm(2, 1) = 7.0f;
  auto mcm = as_eigen(cm.view());
  CHECK(mcm(2, 1) == 7.0f);
  CHECK(mcm.data() == cm.data());

  auto v = as_eigen(col(t.view(), 2));
  CHECK(v.size() == 4);
  CHECK(v(3) == t(3, 2));
  CHECK(v.data() == t.data() + 2);

  // Eigen arithmetic on mapped views equals the same arithmetic by hand.
  const tensor<float, extents<dyn, 6>>& ct = t;
  Eigen::MatrixXf prod = as_eigen(ct.view()) * as_eigen(ct.view()).transpose();
  float ref = 0;
  for (std::size_t k = 0; k < 6; ++k) ref += t(1, k) * t(2, k);
  CHECK(prod(1, 2) == Approx(ref));
}

TEST_CASE("as_view views Eigen objects without copying", "[eigen]") {
  Eigen::MatrixXf a(5, 3);  // column-major
  a.setRandom();
  auto va = as_view(a);
  CHECK(va.data() == a.data());
  CHECK(va.extent(0) == 5);
  CHECK(va.extent(1) == 3);
  CHECK(va(4, 2) == a(4, 2));
  CHECK(va.stride(0) == 1);
  CHECK(va.stride(1) == 5);

  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> r(4, 7);
  r.setRandom();
  auto blk = r.block(1, 2, 3, 4);
  auto vb = as_view(blk);
  CHECK(vb.data() == &r(1, 2));
  CHECK(vb(2, 3) == r(3, 5));
  vb(0, 0) = 42.0;
  CHECK(r(1, 2) == 42.0);

  const Eigen::MatrixXf& ca = a;
  auto vc = as_view(ca);
  STATIC_REQUIRE(std::is_const_v<decltype(vc)::element_type>);

  // Round trip: Eigen -> view -> Eigen is the same memory.
  auto back = as_eigen(va);
  CHECK(back.data() == a.data());
  CHECK(back.isApprox(a));
}

TEST_CASE("tensor storage is 64-byte aligned for every element type", "[eigen]") {
  tensor<std::int8_t, dextents<1>> a(3);
  tensor<double, dextents<2>> b(5, 1);
  tensor<std::uint8_t, extents<1>> c;
  CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % 64 == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % 64 == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(c.data()) % 64 == 0);
}
